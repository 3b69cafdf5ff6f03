"""Account protection (issue 3): breached-password list, context words, lock-out,
rehash on login and enumeration-safe failures, against in-memory repositories."""

from __future__ import annotations

import statistics
import time

import pytest
from argon2 import PasswordHasher

from stateless_auth.domain import breached, passwords
from stateless_auth.domain.accounts import User
from stateless_auth.domain.errors import (
    InvalidCredentials,
    LoginFailed,
    TooManyAttempts,
    WeakPassword,
)
from stateless_auth.http.errors import answer_for, error_headers
from tests.support.clock import Clock
from tests.support.fakes import FakeUsers, Flows
from tests.support.flows import flows_over
from tests.support.settings import ISSUER, load_test_settings

PASSWORD = "correct horse battery staple"


@pytest.fixture
def service(clock: Clock, users: FakeUsers) -> Flows:
    svc = flows_over(users, clock=clock, MAX_FAILED_LOGINS="3", LOCKOUT_SECONDS="60")
    svc.signup_verified("ann@example.com", PASSWORD)
    return svc


# --- the password list ---------------------------------------------------------------


def test_the_shipped_list_is_loaded_and_small() -> None:
    # the top 100,000 of the corpus, of which those of 8+ characters can ever pass the length rule
    assert 30_000 < breached.size() < 100_000


@pytest.mark.parametrize(
    "common", ["password1234", "qwertyuiop", "Password123", "1qaz2wsx3edc4rfv", "PASSWORD1234"]
)
def test_common_passwords_are_on_the_list(common: str) -> None:
    assert breached.is_breached(common)


def test_uncommon_passwords_are_not() -> None:
    assert not breached.is_breached(PASSWORD)
    assert not breached.is_breached("tangerine kettle 4 astronomy")


def test_policy_refuses_listed_passwords_with_a_reason() -> None:
    with pytest.raises(WeakPassword, match="common or breached"):
        passwords.check_password_policy("1qaz2wsx3edc4rfv", min_length=15)
    with pytest.raises(WeakPassword, match="common or breached"):
        passwords.check_password_policy("password1234", min_length=8)


def test_policy_refuses_the_email_and_its_local_part() -> None:
    email = "a.very.long.local.part@example.com"
    for candidate in (email, "A.Very.Long.Local.Part", "a.very.long.local.part"):
        with pytest.raises(WeakPassword, match="email"):
            passwords.check_password_policy(candidate, min_length=15, email=email)
    assert passwords.check_password_policy(PASSWORD, min_length=15, email=email)


def test_signup_refuses_a_listed_password(service: Flows) -> None:
    with pytest.raises(WeakPassword):
        service.signup("bob@example.com", "123456789987654321")


# --- lock-out --------------------------------------------------------------------------


def fail(service: Flows, email: str = "ann@example.com") -> LoginFailed:
    with pytest.raises(LoginFailed) as failed:
        service.login(email, "wrong password, really", issuer=ISSUER)
    return failed.value


def test_lockout_after_max_failures_even_with_the_right_password(
    service: Flows, clock: Clock
) -> None:
    assert not fail(service).locked
    assert not fail(service).locked
    assert fail(service).locked  # the third failure starts the lock-out
    clock.now += 0.5
    with pytest.raises(TooManyAttempts) as locked:
        service.login("ann@example.com", PASSWORD, issuer=ISSUER)
    assert locked.value.retry_after == 60  # 59.5 s left, rounded up
    assert error_headers(locked.value) == {"Retry-After": "60"}
    assert answer_for(locked.value).status == 429
    clock.now += 59
    with pytest.raises(TooManyAttempts) as later:
        service.login("ann@example.com", PASSWORD, issuer=ISSUER)
    assert later.value.retry_after == 1
    clock.now += 0.5
    assert service.login("ann@example.com", PASSWORD, issuer=ISSUER).user_id


def test_locked_attempts_do_not_extend_the_lockout(service: Flows, clock: Clock) -> None:
    for _ in range(3):
        fail(service)
    for _ in range(10):
        clock.now += 5
        with pytest.raises(TooManyAttempts):
            service.login("ann@example.com", "wrong password, really", issuer=ISSUER)
    clock.now += 10
    assert service.login("ann@example.com", PASSWORD, issuer=ISSUER)


def test_a_success_resets_the_count(service: Flows, users: FakeUsers) -> None:
    fail(service)
    fail(service)
    service.login("ann@example.com", PASSWORD, issuer=ISSUER)
    assert "ann@example.com" not in users.failures
    assert not fail(service).locked
    assert not fail(service).locked


def test_after_a_lockout_the_count_starts_afresh(service: Flows, clock: Clock) -> None:
    for _ in range(3):
        fail(service)
    clock.now += 61
    assert not fail(service).locked
    assert not fail(service).locked
    assert fail(service).locked


def test_unknown_emails_lock_out_the_same_way(service: Flows) -> None:
    for _ in range(2):
        assert not fail(service, "nobody@example.com").locked
    assert fail(service, "nobody@example.com").locked
    with pytest.raises(TooManyAttempts):
        service.login("nobody@example.com", PASSWORD, issuer=ISSUER)


def test_lockout_is_per_normalised_email(service: Flows) -> None:
    for _ in range(3):
        fail(service, "ANN@example.com ")
    with pytest.raises(TooManyAttempts):
        service.login("ann@EXAMPLE.com", PASSWORD, issuer=ISSUER)


# --- rehash and equal failures ---------------------------------------------------------


def test_login_rehashes_a_hash_made_with_weaker_parameters(
    service: Flows, users: FakeUsers
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    users.items["old@example.com"] = User("u-old", "old@example.com", weak, 1, email_verified=True)
    service.login("old@example.com", PASSWORD, issuer=ISSUER)
    upgraded = users.items["old@example.com"].password_hash
    assert upgraded != weak
    assert not passwords.needs_rehash(upgraded)
    assert passwords.verify_password(upgraded, PASSWORD)


def test_unknown_email_and_wrong_password_do_the_same_work(
    service: Flows, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_verify = passwords.verify_password

    def counting_verify(password_hash: str, password: str) -> bool:
        calls.append(password_hash.split("$")[3])  # the argon2 parameters used
        return real_verify(password_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counting_verify)
    with pytest.raises(InvalidCredentials) as wrong:
        service.login("ann@example.com", "wrong password, really", issuer=ISSUER)
    with pytest.raises(InvalidCredentials) as unknown:
        service.login("nobody@example.com", "wrong password, really", issuer=ISSUER)
    assert calls[0] == calls[1]  # one argon2id verify each, same parameters
    assert len(calls) == 2
    assert (answer_for(wrong.value), wrong.value.message) == (
        answer_for(unknown.value),
        unknown.value.message,
    )


def test_unknown_email_and_wrong_password_take_about_the_same_time(service: Flows) -> None:
    """Repeated, interleaved runs; medians within a factor that a skipped hash would break
    (a missing argon2 verify makes the unknown-email path ~100x faster)."""
    settings = load_test_settings(MAX_FAILED_LOGINS="100")
    service.settings = settings

    def timed(email: str) -> float:
        start = time.perf_counter()
        with pytest.raises(InvalidCredentials):
            service.login(email, "wrong password, really", issuer=ISSUER)
        return time.perf_counter() - start

    timed("nobody@example.com")  # builds the dummy hash once
    wrong, unknown = [], []
    for i in range(12):
        wrong.append(timed("ann@example.com"))
        unknown.append(timed(f"nobody{i}@example.com"))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.5 < ratio < 2.0, ratio


def test_unprocessed_keys_are_read_again() -> None:
    from stateless_auth.storage.users import UserRepository, email_key

    item = {
        "pk": {"S": email_key("ann@example.com")},
        "user_id": {"S": "u1"},
        "email": {"S": "ann@example.com"},
        "password_hash": {"S": "h"},
        "created_at": {"N": "1"},
    }

    class Throttled:
        calls = 0

        def batch_get_item(self, RequestItems: dict[str, object]) -> dict[str, object]:
            self.calls += 1
            if self.calls == 1:
                return {"Responses": {"Users": []}, "UnprocessedKeys": RequestItems}
            return {"Responses": {"Users": [item]}, "UnprocessedKeys": {}}

    client = Throttled()
    user, failures = UserRepository(client, "Users").load_for_login("ann@example.com")
    assert user is not None
    assert user.user_id == "u1"
    assert failures.count == 0
    assert client.calls == 2
