"""Issue 8 finding 1: the lock-out holds under concurrency.

Each login reserves one of the failures left with a conditional write before argon2
runs, so of any number of simultaneous logins for one email at most as many passwords
are checked as failures remain (docs/security.md, "Lock-out under concurrency").
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from stateless_auth.domain import passwords
from stateless_auth.domain.accounts import User
from stateless_auth.domain.errors import LoginFailed, TooManyAttempts
from stateless_auth.domain.lockout import FailedLogins
from tests.support.fakes import FakeUsers, Flows
from tests.support.flows import flows_over
from tests.support.settings import ISSUER

PASSWORD = "correct horse battery staple"
WRONG = "wrong password, really"
MAX = 3


class ReadTogetherUsers(FakeUsers):
    """Every login's read waits at a barrier: all of them read before any writes."""

    def __init__(self) -> None:
        super().__init__()
        self.barrier: threading.Barrier | None = None

    def load_for_login(self, email: str) -> tuple[User | None, FailedLogins]:
        seen = super().load_for_login(email)
        if self.barrier is not None:
            self.barrier.wait()
        return seen


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords argon2 was asked to check."""
    calls: list[str] = []
    real = passwords.verify_password

    def counting(password_hash: str, password: str) -> bool:
        calls.append(password)
        return real(password_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    return calls


def make_service(users: FakeUsers) -> Flows:
    service = flows_over(users, clock=time.time, MAX_FAILED_LOGINS=str(MAX), LOCKOUT_SECONDS="60")
    service.signup_verified("ann@example.com", PASSWORD)
    return service


def run_together(service: Flows, users: ReadTogetherUsers, attempts: list[str]) -> list[str]:
    outcomes: list[str] = [""] * len(attempts)
    users.barrier = threading.Barrier(len(attempts), timeout=10)

    def attempt(index: int, password: str) -> None:
        try:
            service.login("ann@example.com", password, issuer=ISSUER)
            outcomes[index] = "ok"
        except LoginFailed:
            outcomes[index] = "failed"
        except TooManyAttempts:
            outcomes[index] = "locked"

    threads = [threading.Thread(target=attempt, args=(i, p)) for i, p in enumerate(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    users.barrier = None
    return outcomes


def test_two_logins_that_both_read_before_either_writes(checked: list[str]) -> None:
    """One failure left; both requests read the count before either writes."""
    users = ReadTogetherUsers()
    service = make_service(users)
    users.failures["ann@example.com"] = FailedLogins(MAX - 1, int(time.time()))
    outcomes = run_together(service, users, [WRONG, PASSWORD])
    assert len(checked) == 1  # the old code checked both
    assert sorted(outcomes) in (["failed", "locked"], ["locked", "ok"])


def test_twenty_simultaneous_wrong_passwords_check_at_most_max(checked: list[str]) -> None:
    users = ReadTogetherUsers()
    service = make_service(users)
    outcomes = run_together(service, users, [WRONG] * 20)
    assert len(checked) == MAX
    assert outcomes.count("failed") == MAX
    assert outcomes.count("locked") == 20 - MAX
    # The limit has been reached: the right password is refused too.
    with pytest.raises(TooManyAttempts):
        service.login("ann@example.com", PASSWORD, issuer=ISSUER)


def test_a_burst_with_the_right_password_after_the_limit_is_refused(checked: list[str]) -> None:
    users = ReadTogetherUsers()
    service = make_service(users)
    first = run_together(service, users, [WRONG] * 10)
    assert first.count("failed") == MAX
    checked.clear()
    second = run_together(service, users, [PASSWORD] * 10)
    assert second == ["locked"] * 10
    assert checked == []  # not one password checked while locked


def test_a_success_holds_only_its_own_reservation(checked: list[str]) -> None:
    """A right password among wrong ones: never more checks than failures left + the one."""
    users = ReadTogetherUsers()
    service = make_service(users)
    outcomes = run_together(service, users, [PASSWORD] + [WRONG] * 7)
    assert len(checked) <= MAX
    assert outcomes.count("ok") + outcomes.count("failed") == len(checked)


def test_a_key_outage_answers_before_any_attempt_is_counted() -> None:
    from stateless_auth.domain.errors import KeySetError

    users = FakeUsers()
    service = make_service(users)

    def outage() -> Any:
        raise KeySetError("the extension is down")

    service.signing_key = outage
    with pytest.raises(KeySetError):
        service.login("ann@example.com", PASSWORD, issuer=ISSUER)
    assert users.reservations == 0
    assert "ann@example.com" not in users.failures
