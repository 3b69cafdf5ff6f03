"""The second factor's races as deterministic interleavings: a store's
`once_before(operation, call)` runs `call` between an operation's read and its write
(tests/support/fakes.py), so each test puts a whole competing request exactly there.

A code (or a recovery code) is accepted in the same conditional write as what it
authorises, so of two requests that read it as unused, the second writer fails."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from stateless_auth.domain.errors import (
    InvalidCredentials,
    LoginFailed,
    MfaAlreadyEnabled,
    MfaNotEnrolling,
    RefreshRejected,
)
from stateless_auth.domain.mail import MailKind
from stateless_auth.domain.mfa import time_step
from stateless_auth.domain.sessions import TokenGrant
from stateless_auth.tokens.keys import KeySet
from stateless_auth.tokens.mfa_tokens import MfaPurpose, MfaToken
from stateless_auth.tokens.refresh_tokens import hash_refresh_token
from tests.support.clock import Clock
from tests.support.fakes import FakeSessions, FakeUsers, Flows, caller_of, totp_at
from tests.support.flows import flows_over
from tests.support.settings import ISSUER

ANN = "ann@example.com"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase for ann"


@pytest.fixture(scope="module")
def key_set() -> KeySet:
    return KeySet.generate()


@pytest.fixture
def clock() -> Clock:
    now = int(time.time())
    return Clock(float(now - now % 30 + 1))


@pytest.fixture
def sessions(users: FakeUsers) -> FakeSessions:
    return FakeSessions(users)


@pytest.fixture
def service(users: FakeUsers, sessions: FakeSessions, key_set: KeySet, clock: Clock) -> Flows:
    svc = flows_over(users, sessions=sessions, key_set=key_set, clock=clock, MAX_FAILED_LOGINS="5")
    svc.signup_verified(ANN, PASSWORD)
    return svc


@dataclass(frozen=True)
class On:
    secret: str
    codes: tuple[str, ...]
    grant: TokenGrant


@pytest.fixture
def on(service: Flows, clock: Clock) -> On:
    grant = service.login(ANN, PASSWORD, issuer=ISSUER)
    secret, codes = service.enable_mfa(caller_of(grant), PASSWORD)
    clock.now += 30  # the confirming step is used: the tests' codes are the next step's
    service.mail.take()
    return On(secret, codes, grant)


def code(on: On, clock: Clock) -> str:
    return totp_at(on.secret, clock.now)


def session_ids(users: FakeUsers) -> set[str]:
    return {s.session_id for s in users.items[ANN].sessions}


def outcome(call: Any) -> Any:
    """What `call` returned, or the exception it raised."""
    try:
        return call()
    except Exception as exc:
        return exc


def refreshes(service: Flows, grant: TokenGrant) -> str:
    try:
        service.refresh(grant.refresh_token, issuer=ISSUER)
    except RefreshRejected as rejected:
        return rejected.reason
    return "ok"


# --- one code, two logins ------------------------------------------------------------------


def test_two_verifies_with_one_code_open_exactly_one_session(
    service: Flows, users: FakeUsers, sessions: FakeSessions, on: On, clock: Clock
) -> None:
    before = session_ids(users)
    first = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    second = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    typed = code(on, clock)
    inner: list[Any] = []
    # Both read the account with the step unused; the second verifies whole before the
    # first writes.
    sessions.once_before(
        "create",
        lambda: inner.append(
            outcome(lambda: service.verify_mfa(second, issuer=ISSUER, code=typed))
        ),
    )
    with pytest.raises(LoginFailed):
        service.verify_mfa(first, issuer=ISSUER, code=typed)
    (won,) = inner
    assert won.grant.session_id in session_ids(users)
    assert session_ids(users) - before == {won.grant.session_id}
    assert users.items[ANN].totp_last_step == time_step(clock.now)
    # The loser's attempt was reserved before the winner's success cleared the count.
    assert ANN not in users.failures


def test_two_verifies_with_one_recovery_code_open_exactly_one_session(
    service: Flows, users: FakeUsers, sessions: FakeSessions, on: On
) -> None:
    before = session_ids(users)
    first = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    second = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    inner: list[Any] = []
    sessions.once_before(
        "create",
        lambda: inner.append(
            outcome(lambda: service.verify_mfa(second, issuer=ISSUER, recovery_code=on.codes[0]))
        ),
    )
    with pytest.raises(LoginFailed):
        service.verify_mfa(first, issuer=ISSUER, recovery_code=on.codes[0])
    (won,) = inner
    assert session_ids(users) - before == {won.grant.session_id}
    assert users.items[ANN].recovery_code_hash(on.codes[0][:4]) is None
    assert len(users.items[ANN].recovery_codes) == 9
    # One notice: the winner's.
    assert [job.kind for job in service.mail.take()] == [MailKind.RECOVERY_CODE_USED]


def test_a_verify_with_the_next_step_after_a_racing_one_still_works(
    service: Flows, users: FakeUsers, sessions: FakeSessions, on: On, clock: Clock
) -> None:
    # The loser's failure is only that code: the next step's code logs in.
    first = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    second = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    typed = code(on, clock)
    sessions.once_before("create", lambda: service.verify_mfa(second, issuer=ISSUER, code=typed))
    with pytest.raises(LoginFailed):
        service.verify_mfa(first, issuer=ISSUER, code=typed)
    clock.now += 30
    assert service.verify_mfa(first, issuer=ISSUER, code=code(on, clock)).grant


# --- a verify and turning MFA off ----------------------------------------------------------


def test_a_verify_whose_write_comes_after_mfa_was_turned_off_opens_nothing(
    service: Flows, users: FakeUsers, sessions: FakeSessions, on: On, clock: Clock
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    sessions.once_before(
        "create",
        lambda: service.disable_mfa(caller_of(on.grant), PASSWORD, recovery_code=on.codes[1]),
    )
    with pytest.raises(InvalidCredentials):
        service.verify_mfa(token, issuer=ISSUER, code=code(on, clock))
    assert not users.items[ANN].mfa_enabled
    assert session_ids(users) == {on.grant.session_id}


def test_a_verify_that_lands_before_the_turn_off_writes_is_ended_by_it(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    # The turn-off read the account (and its sessions), then a login with another factor
    # committed: the turn-off still ends every session but the caller's, the new one too.
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    late: list[Any] = []
    users.once_before(
        "disable_mfa",
        lambda: late.append(service.verify_mfa(token, issuer=ISSUER, recovery_code=on.codes[3])),
    )
    service.disable_mfa(caller_of(on.grant), PASSWORD, code=code(on, clock))
    (verified,) = late
    assert not users.items[ANN].mfa_enabled
    assert session_ids(users) == {on.grant.session_id}
    assert refreshes(service, verified.grant) == "account_changed"
    assert refreshes(service, on.grant) == "ok"


def test_a_turn_off_and_a_verify_with_one_code_one_wins_verify_first(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    typed = code(on, clock)
    users.once_before("disable_mfa", lambda: service.verify_mfa(token, issuer=ISSUER, code=typed))
    with pytest.raises(InvalidCredentials):
        service.disable_mfa(caller_of(on.grant), PASSWORD, code=typed)
    assert users.items[ANN].mfa_enabled  # the code went to the login


def test_a_turn_off_and_a_verify_with_one_code_one_wins_turn_off_first(
    service: Flows, users: FakeUsers, sessions: FakeSessions, on: On, clock: Clock
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    typed = code(on, clock)
    sessions.once_before(
        "create", lambda: service.disable_mfa(caller_of(on.grant), PASSWORD, code=typed)
    )
    with pytest.raises(InvalidCredentials):
        service.verify_mfa(token, issuer=ISSUER, code=typed)
    assert not users.items[ANN].mfa_enabled
    assert session_ids(users) == {on.grant.session_id}


def test_a_turn_off_racing_logout_all_still_turns_off_and_lists_nothing(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    # Its kept session ended since its read: it is not written back (as a password
    # change), and the factor goes off all the same.
    users.once_before("disable_mfa", lambda: service.logout_all(caller_of(on.grant)))
    assert service.disable_mfa(caller_of(on.grant), PASSWORD, code=code(on, clock))  # noticed
    assert not users.items[ANN].mfa_enabled
    assert session_ids(users) == set()
    assert refreshes(service, on.grant) == "account_changed"


def test_a_turn_off_racing_a_password_change_is_refused(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    users.once_before(
        "disable_mfa",
        lambda: service.change_password(caller_of(on.grant), PASSWORD, NEW_PASSWORD),
    )
    with pytest.raises(InvalidCredentials):
        service.disable_mfa(caller_of(on.grant), PASSWORD, code=code(on, clock))
    assert users.items[ANN].mfa_enabled


# --- a password login and the confirm that turns a factor on ---------------------------------


def test_a_password_login_racing_a_confirm_goes_on_to_the_factor(
    service: Flows, users: FakeUsers, sessions: FakeSessions, clock: Clock
) -> None:
    """The login read the account before the confirm and writes its session after: the
    write is refused (no session without a factor on an account that has one), and the
    login answers as it would have a moment later, mfa_required, the right password not
    counted; its mfa_token then verifies with a code."""
    owner = service.login(ANN, PASSWORD, issuer=ISSUER)
    secret = service.enroll_totp(caller_of(owner), PASSWORD).secret
    sessions.once_before(
        "create", lambda: service.confirm_totp(caller_of(owner), totp_at(secret, clock.now))
    )
    answer = service.start_login(ANN, PASSWORD, issuer=ISSUER, delivery="body")
    assert isinstance(answer, MfaToken), answer
    assert answer.purpose is MfaPurpose.VERIFY
    assert users.items[ANN].totp_secret == secret
    assert session_ids(users) == {owner.session_id}  # no password-only session
    assert ANN not in users.failures or users.failures[ANN].count == 0
    clock.now += 30  # the confirming step is used
    verified = service.verify_mfa(answer, issuer=ISSUER, code=totp_at(secret, clock.now))
    assert verified.delivery == "body"
    assert sessions.tokens[hash_refresh_token(verified.grant.refresh_token)].amr == ("pwd", "otp")
    assert session_ids(users) == {owner.session_id, verified.grant.session_id}


# --- confirming and enrolling --------------------------------------------------------------


def test_a_confirm_racing_a_second_enrolment_turns_on_no_secret_unseen(
    service: Flows, users: FakeUsers, clock: Clock
) -> None:
    caller = caller_of(service.login(ANN, PASSWORD, issuer=ISSUER))
    seen = service.enroll_totp(caller, PASSWORD).secret
    other: list[str] = []
    # The confirm checked its code against `seen`; another enrolment replaces it before
    # the confirm writes.
    users.once_before(
        "enable_totp", lambda: other.append(service.enroll_totp(caller, PASSWORD).secret)
    )
    with pytest.raises(MfaNotEnrolling):
        service.confirm_totp(caller, totp_at(seen, clock.now))
    (replacement,) = other
    stored = users.items[ANN]
    assert not stored.mfa_enabled
    assert stored.totp_secret == ""
    assert stored.pending_totp_secret == replacement
    # The replacement is confirmed with its own code (the app that saw it).
    service.confirm_totp(caller, totp_at(replacement, clock.now))
    assert users.items[ANN].totp_secret == replacement


def test_two_confirms_of_one_enrolment_issue_one_set_of_codes(
    service: Flows, users: FakeUsers, clock: Clock
) -> None:
    caller = caller_of(service.login(ANN, PASSWORD, issuer=ISSUER))
    secret = service.enroll_totp(caller, PASSWORD).secret
    typed = totp_at(secret, clock.now)
    inner: list[Any] = []
    users.once_before(
        "enable_totp", lambda: inner.append(service.confirm_totp(caller, typed).codes)
    )
    with pytest.raises(MfaAlreadyEnabled):
        service.confirm_totp(caller, typed)
    (codes,) = inner
    assert {c for c, _ in users.items[ANN].recovery_codes} == {c[:4] for c in codes}
    assert [job.kind for job in service.mail.take()].count(MailKind.MFA_ENABLED) == 1


def test_an_enrolment_racing_a_confirm_elsewhere_says_mfa_is_on(
    service: Flows, users: FakeUsers, clock: Clock
) -> None:
    caller = caller_of(service.login(ANN, PASSWORD, issuer=ISSUER))
    secret = service.enroll_totp(caller, PASSWORD).secret
    users.once_before(
        "start_totp_enrollment",
        lambda: service.confirm_totp(caller, totp_at(secret, clock.now)),
    )
    with pytest.raises(MfaAlreadyEnabled):
        service.enroll_totp(caller, PASSWORD)
    assert users.items[ANN].totp_secret == secret
    assert users.items[ANN].pending_totp_secret == ""


def test_an_enrolment_racing_a_password_change_is_refused(service: Flows, users: FakeUsers) -> None:
    caller = caller_of(service.login(ANN, PASSWORD, issuer=ISSUER))
    users.once_before(
        "start_totp_enrollment",
        lambda: service.change_password(caller, PASSWORD, NEW_PASSWORD),
    )
    with pytest.raises(InvalidCredentials):
        service.enroll_totp(caller, PASSWORD)
    assert users.items[ANN].pending_totp_secret == ""


# --- renewing codes and a verify with the same code -----------------------------------------


def test_a_verify_landing_before_a_renewal_with_one_code_wins(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    typed = code(on, clock)
    logged_in: list[Any] = []
    users.once_before(
        "renew_recovery_codes",
        lambda: logged_in.append(service.verify_mfa(token, issuer=ISSUER, code=typed)),
    )
    codes_before = users.items[ANN].recovery_codes
    with pytest.raises(InvalidCredentials):
        service.renew_recovery_codes(caller_of(on.grant), PASSWORD, code=typed)
    assert len(logged_in) == 1
    assert users.items[ANN].recovery_codes == codes_before  # the old set still stands
    assert [job.kind for job in service.mail.take()] == []


def test_a_renewal_landing_before_a_verify_with_one_code_wins(
    service: Flows, users: FakeUsers, sessions: FakeSessions, on: On, clock: Clock
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    typed = code(on, clock)
    renewed: list[Any] = []
    sessions.once_before(
        "create",
        lambda: renewed.append(
            service.renew_recovery_codes(caller_of(on.grant), PASSWORD, code=typed)
        ),
    )
    before = session_ids(users)
    with pytest.raises(LoginFailed):
        service.verify_mfa(token, issuer=ISSUER, code=typed)
    assert session_ids(users) == before
    (new_set,) = renewed
    assert {c for c, _ in users.items[ANN].recovery_codes} == {c[:4] for c in new_set.codes}


def test_a_verify_landing_before_a_renewal_with_one_recovery_code_wins(
    service: Flows, users: FakeUsers, on: On
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    used = on.codes[7]
    users.once_before(
        "renew_recovery_codes",
        lambda: service.verify_mfa(token, issuer=ISSUER, recovery_code=used),
    )
    with pytest.raises(InvalidCredentials):
        service.renew_recovery_codes(caller_of(on.grant), PASSWORD, recovery_code=used)
    stored = users.items[ANN]
    assert stored.recovery_code_hash(used[:4]) is None
    assert len(stored.recovery_codes) == 9  # the old set, less the used code


def test_a_renewal_landing_before_a_verify_with_one_recovery_code_wins(
    service: Flows, users: FakeUsers, sessions: FakeSessions, on: On
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    used = on.codes[8]
    sessions.once_before(
        "create",
        lambda: service.renew_recovery_codes(caller_of(on.grant), PASSWORD, recovery_code=used),
    )
    before = session_ids(users)
    with pytest.raises(LoginFailed):
        service.verify_mfa(token, issuer=ISSUER, recovery_code=used)
    assert session_ids(users) == before
    # The old set is gone: no other old code works either.
    with pytest.raises(LoginFailed):
        service.verify_mfa(token, issuer=ISSUER, recovery_code=on.codes[0])


# --- a verify and a new password ------------------------------------------------------------


def test_a_verify_racing_a_password_reset_opens_nothing(
    service: Flows, users: FakeUsers, sessions: FakeSessions, on: On, clock: Clock
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    service.forgot_password(ANN)
    service.deliver_queued()
    link = service.token_for(ANN, "reset_password")
    sessions.once_before("create", lambda: service.reset_password(link, NEW_PASSWORD))
    with pytest.raises(InvalidCredentials):
        service.verify_mfa(token, issuer=ISSUER, code=code(on, clock))
    assert session_ids(users) == set()  # the reset ended every session, and none opened
    assert users.items[ANN].mfa_enabled
    # The code was not accepted: it still works for the owner's next login.
    grant = service.login_with_code(ANN, NEW_PASSWORD, code(on, clock), issuer=ISSUER)
    assert grant.session_id in session_ids(users)
