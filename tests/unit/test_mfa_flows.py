"""The second factor's use cases over the in-memory stores (usecases/mfa.py, login's
mfa_token): enrol, confirm, verify, renew, turn off, with every refusal of the contract,
the lock-out across the password and the code, the mfa_token's bindings, MFA=required,
and the `amr`/`acr` of sessions and their refreshed tokens.

The clock starts one second into a TOTP step; a test moves it a step (30 s) on before
each new code, as the account accepts each step once."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import jwt
import pytest

from stateless_auth.domain.errors import (
    EmailNotVerified,
    InvalidCode,
    InvalidCredentials,
    InvalidMfaToken,
    InvalidToken,
    LoginFailed,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    MfaNotEnrolling,
    MfaTokenUsed,
    RefreshRejected,
    TooManyAttempts,
)
from stateless_auth.domain.mail import MailKind
from stateless_auth.domain.mfa import PENDING_ENROLLMENT_SECONDS, time_step
from stateless_auth.domain.sessions import TokenGrant
from stateless_auth.http.errors import answer_for, error_headers
from stateless_auth.tokens.access import LEEWAY_SECONDS, AccessTokenVerifier
from stateless_auth.tokens.authorizer import DENY, Authorizer
from stateless_auth.tokens.keys import KeySet
from stateless_auth.tokens.mfa_tokens import (
    MFA_TOKEN_TTL_SECONDS,
    MfaChallenge,
    MfaPurpose,
    MfaToken,
    MfaTokenVerifier,
    issue_mfa_token,
)
from stateless_auth.tokens.refresh_tokens import hash_refresh_token
from tests.support.clock import Clock
from tests.support.fakes import FakeUsers, Flows, caller_of, caller_of_enrollment, totp_at
from tests.support.flows import flows_over
from tests.support.settings import AUDIENCE, ISSUER
from tests.support.tokens import store_for

ANN = "ann@example.com"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase for ann"
WRONG = "not the password at all, no"
MAX = 3


@pytest.fixture(scope="module")
def key_set() -> KeySet:
    return KeySet.generate()


@pytest.fixture
def clock() -> Clock:
    """The real time, moved back to one second into its TOTP step."""
    now = int(time.time())
    return Clock(float(now - now % 30 + 1))


def make_service(users: FakeUsers, key_set: KeySet, clock: Clock, **settings: str) -> Flows:
    service = flows_over(
        users,
        sessions=None,
        key_set=key_set,
        clock=clock,
        **{"MAX_FAILED_LOGINS": str(MAX), **settings},
    )
    service.signup_verified(ANN, PASSWORD)
    service.mail.take()
    return service


@pytest.fixture
def service(users: FakeUsers, key_set: KeySet, clock: Clock) -> Flows:
    return make_service(users, key_set, clock)


@pytest.fixture
def first(service: Flows) -> TokenGrant:
    """A session opened before MFA was on (the one that turns it on)."""
    return service.login(ANN, PASSWORD, issuer=ISSUER)


@dataclass(frozen=True)
class On:
    secret: str
    codes: tuple[str, ...]
    grant: TokenGrant  # the session MFA was turned on from


@pytest.fixture
def on(service: Flows, first: TokenGrant) -> On:
    """MFA on (the confirming code's step used); the mail queue emptied."""
    secret, codes = service.enable_mfa(caller_of(first), PASSWORD)
    service.mail.take()
    return On(secret, codes, first)


def next_code(clock: Clock, secret: str) -> str:
    """The code of the next time step (the clock moved on to it)."""
    clock.now += 30
    return totp_at(secret, clock.now)


def failures(users: FakeUsers) -> int:
    """The email's failed passwords (its FAILED# record)."""
    record = users.failures.get(ANN)
    return record.count if record is not None else 0


def code_failures(users: FakeUsers) -> int:
    """The account's own count of wrong second-factor codes (`code_failures`)."""
    return users.items[ANN].code_failures.count


def counts(users: FakeUsers) -> tuple[int, int]:
    """(failed passwords, wrong codes)."""
    return failures(users), code_failures(users)


def kinds(service: Flows) -> list[str]:
    return [job.kind for job in service.mail.take()]


def verified_claims(key_set: KeySet, clock: Clock, token: str) -> dict[str, Any]:
    """The access token's claims, verified as the authorizer does (on the test's clock)."""
    verifier = AccessTokenVerifier(store_for(key_set), audience=AUDIENCE, clock=clock)
    return verifier.verify(token, issuer=ISSUER)


def mfa_claims(token: MfaToken) -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        jwt.get_unverified_header(token.token),
        jwt.decode(token.token, options={"verify_signature": False}),
    )


def refreshes(service: Flows, grant: TokenGrant) -> str:
    try:
        service.refresh(grant.refresh_token, issuer=ISSUER)
    except RefreshRejected as rejected:
        return rejected.reason
    return "ok"


# --- enrolment -----------------------------------------------------------------------------


def test_enrolment_gives_a_pending_secret_and_turns_nothing_on(
    service: Flows, users: FakeUsers, first: TokenGrant, clock: Clock
) -> None:
    enrollment = service.enroll_totp(caller_of(first), PASSWORD)
    assert len(enrollment.secret) == 32
    assert enrollment.otpauth_uri.startswith("otpauth://totp/")
    assert f"secret={enrollment.secret}" in enrollment.otpauth_uri
    stored = users.items[ANN]
    assert stored.pending_totp_secret == enrollment.secret
    assert (
        stored.pending_totp_expires_at
        == int(clock.now) + PENDING_ENROLLMENT_SECONDS
        == (int(clock.now) + 600)
    )
    assert not stored.mfa_enabled
    assert isinstance(service.login(ANN, PASSWORD, issuer=ISSUER), TokenGrant)  # no MFA yet
    assert kinds(service) == []  # no notice until it is on


def test_enrolment_with_a_wrong_password_counts_as_a_failed_login(
    service: Flows, users: FakeUsers, first: TokenGrant
) -> None:
    with pytest.raises(InvalidCredentials):
        service.enroll_totp(caller_of(first), WRONG)
    assert failures(users) == 1
    assert users.items[ANN].pending_totp_secret == ""


def test_enrolment_with_the_right_password_keeps_earlier_failures_and_adds_none(
    service: Flows, users: FakeUsers, first: TokenGrant
) -> None:
    with pytest.raises(InvalidCredentials):
        service.login(ANN, WRONG, issuer=ISSUER)
    service.enroll_totp(caller_of(first), PASSWORD)
    assert failures(users) == 1


def test_enrolment_while_locked_out_is_refused(
    service: Flows, users: FakeUsers, first: TokenGrant
) -> None:
    for _ in range(MAX):
        with pytest.raises(InvalidCredentials):
            service.login(ANN, WRONG, issuer=ISSUER)
    with pytest.raises(TooManyAttempts) as refused:
        service.enroll_totp(caller_of(first), PASSWORD)
    assert refused.value.retry_after > 0
    assert users.items[ANN].pending_totp_secret == ""


def test_enrolment_with_mfa_on_is_refused_and_not_counted(
    service: Flows, users: FakeUsers, on: On
) -> None:
    with pytest.raises(MfaAlreadyEnabled):
        service.enroll_totp(caller_of(on.grant), PASSWORD)
    assert failures(users) == 0
    assert users.items[ANN].totp_secret == on.secret
    assert users.items[ANN].pending_totp_secret == ""


def test_enrolment_for_an_account_that_is_gone_is_refused(
    service: Flows, first: TokenGrant
) -> None:
    service.delete_account(caller_of(first), PASSWORD)
    service.signup_verified(ANN, PASSWORD)  # the address has another account now
    with pytest.raises(InvalidCredentials):
        service.enroll_totp(caller_of(first), PASSWORD)


def test_a_second_enrolment_replaces_the_pending_one(
    service: Flows, users: FakeUsers, first: TokenGrant, clock: Clock
) -> None:
    caller = caller_of(first)
    old = service.enroll_totp(caller, PASSWORD).secret
    new = service.enroll_totp(caller, PASSWORD).secret
    assert old != new
    assert users.items[ANN].pending_totp_secret == new
    with pytest.raises(InvalidCode):
        service.confirm_totp(caller, totp_at(old, clock.now))
    service.confirm_totp(caller, totp_at(new, clock.now))
    assert users.items[ANN].totp_secret == new


# --- confirming ----------------------------------------------------------------------------


def test_confirming_turns_mfa_on_with_ten_codes_and_a_notice(
    service: Flows, users: FakeUsers, first: TokenGrant, clock: Clock
) -> None:
    caller = caller_of(first)
    secret = service.enroll_totp(caller, PASSWORD).secret
    issued = service.confirm_totp(caller, totp_at(secret, clock.now))
    assert len(issued.codes) == 10
    assert issued.notice_queued
    stored = users.items[ANN]
    assert stored.mfa_enabled
    assert stored.totp_secret == secret
    assert stored.totp_last_step == time_step(clock.now)  # the confirming step is used
    assert len(stored.recovery_codes) == 10
    assert {code_id for code_id, _ in stored.recovery_codes} == {c[:4] for c in issued.codes}
    assert all(h.startswith("$argon2id$") for _, h in stored.recovery_codes)
    assert all(code not in repr(stored) for code in issued.codes)
    assert (stored.pending_totp_secret, stored.pending_totp_expires_at) == ("", 0)
    assert kinds(service) == [MailKind.MFA_ENABLED]
    assert counts(users) == (0, 0)


def test_confirming_without_an_enrolment(service: Flows, first: TokenGrant) -> None:
    with pytest.raises(MfaNotEnrolling):
        service.confirm_totp(caller_of(first), "123456")


def test_confirming_an_expired_enrolment(
    service: Flows, users: FakeUsers, first: TokenGrant, clock: Clock
) -> None:
    caller = caller_of(first)
    secret = service.enroll_totp(caller, PASSWORD).secret
    clock.now += PENDING_ENROLLMENT_SECONDS
    with pytest.raises(MfaNotEnrolling):
        service.confirm_totp(caller, totp_at(secret, clock.now))
    assert not users.items[ANN].mfa_enabled
    assert counts(users) == (0, 0)  # no code was checked


def test_confirming_just_before_the_enrolment_expires(
    service: Flows, users: FakeUsers, first: TokenGrant, clock: Clock
) -> None:
    caller = caller_of(first)
    secret = service.enroll_totp(caller, PASSWORD).secret
    clock.now += PENDING_ENROLLMENT_SECONDS - 1
    service.confirm_totp(caller, totp_at(secret, clock.now))
    assert users.items[ANN].mfa_enabled


def test_a_wrong_code_at_confirm_is_invalid_code_and_counts(
    service: Flows, users: FakeUsers, first: TokenGrant, clock: Clock
) -> None:
    caller = caller_of(first)
    secret = service.enroll_totp(caller, PASSWORD).secret
    wrong = "000000" if totp_at(secret, clock.now) != "000000" else "111111"
    with pytest.raises(InvalidCode):
        service.confirm_totp(caller, wrong)
    assert counts(users) == (0, 1)  # on the account's count of wrong codes
    assert users.items[ANN].pending_totp_secret == secret  # still pending
    assert not users.items[ANN].mfa_enabled
    service.confirm_totp(caller, totp_at(secret, clock.now))
    assert users.items[ANN].mfa_enabled
    assert counts(users) == (0, 0)  # a right code clears the wrong ones


def test_a_right_code_at_confirm_clears_wrong_codes_not_failed_passwords(
    service: Flows, users: FakeUsers, first: TokenGrant, clock: Clock
) -> None:
    with pytest.raises(InvalidCredentials):
        service.login(ANN, WRONG, issuer=ISSUER)
    caller = caller_of(first)
    secret = service.enroll_totp(caller, PASSWORD).secret
    wrong = "000000" if totp_at(secret, clock.now) != "000000" else "111111"
    with pytest.raises(InvalidCode):
        service.confirm_totp(caller, wrong)
    assert counts(users) == (1, 1)
    service.confirm_totp(caller, totp_at(secret, clock.now))
    # No password was shown at confirm: the failed one stays counted.
    assert counts(users) == (1, 0)


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦"])
def test_a_malformed_code_at_confirm_is_invalid_code(
    service: Flows, first: TokenGrant, typed: str
) -> None:
    caller = caller_of(first)
    service.enroll_totp(caller, PASSWORD)
    with pytest.raises(InvalidCode):
        service.confirm_totp(caller, typed)


def test_wrong_codes_at_confirm_lock_the_email_out(
    service: Flows, users: FakeUsers, first: TokenGrant, clock: Clock
) -> None:
    caller = caller_of(first)
    secret = service.enroll_totp(caller, PASSWORD).secret
    wrong = "000000" if totp_at(secret, clock.now) != "000000" else "111111"
    for _ in range(MAX):
        with pytest.raises(InvalidCode):
            service.confirm_totp(caller, wrong)
    with pytest.raises(TooManyAttempts):
        service.confirm_totp(caller, totp_at(secret, clock.now))
    assert not users.items[ANN].mfa_enabled
    with pytest.raises(TooManyAttempts):
        service.login(ANN, PASSWORD, issuer=ISSUER)


def test_confirming_with_mfa_on_already(service: Flows, on: On, clock: Clock) -> None:
    with pytest.raises(MfaAlreadyEnabled):
        service.confirm_totp(caller_of(on.grant), next_code(clock, on.secret))


def test_the_confirming_codes_step_counts_as_used(
    service: Flows, users: FakeUsers, first: TokenGrant, clock: Clock
) -> None:
    caller = caller_of(first)
    secret = service.enroll_totp(caller, PASSWORD).secret
    code = totp_at(secret, clock.now)
    service.confirm_totp(caller, code)
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    with pytest.raises(LoginFailed):
        service.verify_mfa(token, issuer=ISSUER, code=code)
    # Nor the previous step's code, still in the window of the clock's.
    with pytest.raises(LoginFailed):
        service.verify_mfa(token, issuer=ISSUER, code=totp_at(secret, clock.now - 30))
    assert service.verify_mfa(token, issuer=ISSUER, code=next_code(clock, secret)).grant


# --- logging in with MFA on ----------------------------------------------------------------


def test_the_right_password_answers_an_mfa_token_and_no_session(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    before = users.items[ANN].sessions
    answer = service.start_login(ANN, PASSWORD, issuer=ISSUER, delivery="body")
    assert isinstance(answer, MfaToken)
    assert (answer.purpose, answer.expires_in) == (MfaPurpose.VERIFY, 300)
    assert users.items[ANN].sessions == before  # nothing opened
    header, claims = mfa_claims(answer)
    assert header["typ"] == "mfa+jwt"
    assert header["alg"] == "ES256"
    assert header["kid"]
    stored = users.items[ANN]
    assert claims["aud"] == f"{AUDIENCE}:mfa"
    assert claims["iss"] == ISSUER
    assert claims["sub"] == stored.user_id
    assert claims["email"] == ANN
    assert claims["exp"] - claims["iat"] == MFA_TOKEN_TTL_SECONDS == 300
    assert claims["iat"] == int(clock.now)
    assert claims["jti"]
    assert claims["purpose"] == "verify"
    assert claims["psid"] == stored.password_set_id
    assert claims["epoch"] == stored.sessions_epoch
    assert claims["amr"] == ["pwd"]
    assert claims["rtd"] == "body"


def test_a_code_opens_an_aal2_session(
    service: Flows, users: FakeUsers, on: On, clock: Clock, key_set: KeySet
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    verified = service.verify_mfa(token, issuer=ISSUER, code=next_code(clock, on.secret))
    assert (verified.delivery, verified.used_recovery_code, verified.notice_queued) == (
        "cookie",
        False,
        False,
    )
    claims = verified_claims(key_set, clock, verified.grant.access_token)
    assert claims["amr"] == ["pwd", "otp"]
    assert claims["acr"] == "aal2"
    assert claims["sid"] == verified.grant.session_id
    assert verified.grant.session_id in {s.session_id for s in users.items[ANN].sessions}
    assert users.items[ANN].totp_last_step == time_step(clock.now)
    record = service.sessions.tokens[hash_refresh_token(verified.grant.refresh_token)]
    assert record.amr == ("pwd", "otp")  # what every refresh of the session carries
    assert kinds(service) == []  # no notice for a code


def test_the_delivery_the_login_asked_for_is_carried_to_verify(
    service: Flows, on: On, clock: Clock
) -> None:
    answer = service.start_login(ANN, PASSWORD, issuer=ISSUER, delivery="body")
    assert isinstance(answer, MfaToken)
    verified = service.verify_mfa(answer, issuer=ISSUER, code=next_code(clock, on.secret))
    assert verified.delivery == "body"


def test_a_recovery_code_opens_a_session_once_and_sends_a_notice(
    service: Flows, users: FakeUsers, on: On, clock: Clock, key_set: KeySet
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    typed = on.codes[4].upper().replace("-", " ")
    verified = service.verify_mfa(token, issuer=ISSUER, recovery_code=typed)
    assert verified.used_recovery_code
    assert verified.notice_queued
    claims = verified_claims(key_set, clock, verified.grant.access_token)
    assert (claims["amr"], claims["acr"]) == (["pwd", "mfa"], "aal2")
    stored = users.items[ANN]
    assert stored.recovery_code_hash(on.codes[4][:4]) is None
    assert len(stored.recovery_codes) == 9
    assert kinds(service) == [MailKind.RECOVERY_CODE_USED]
    # Used: never again, in any spelling; another code still works (at a new login: the
    # first mfa_token opened its session and opens no other).
    again = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    with pytest.raises(LoginFailed):
        service.verify_mfa(again, issuer=ISSUER, recovery_code=on.codes[4])
    assert counts(users) == (0, 1)
    service.verify_mfa(again, issuer=ISSUER, recovery_code=on.codes[5])
    assert counts(users) == (0, 0)


def test_an_mfa_token_opens_one_session_and_a_copy_of_it_none(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    """A spent mfa_token is refused even with a code that would work, and the attempt
    counts; a fresh login's token works with that same code."""
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    service.verify_mfa(token, issuer=ISSUER, recovery_code=on.codes[0])
    with pytest.raises(MfaTokenUsed):
        service.verify_mfa(token, issuer=ISSUER, recovery_code=on.codes[1])
    assert counts(users) == (0, 1)
    assert len(users.items[ANN].recovery_codes) == 9  # codes[1] was not spent
    again = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    service.verify_mfa(again, issuer=ISSUER, recovery_code=on.codes[1])
    assert counts(users) == (0, 0)


def test_a_recovery_code_of_another_set_or_made_up_is_refused(
    service: Flows, users: FakeUsers, on: On
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    forged = on.codes[0][:5] + on.codes[1][5:]  # a real id with another code's secret
    for typed in (forged, "aaaa-bbbb-cccc-dddd-eeee", "not a code"):  # MAX of them
        with pytest.raises(LoginFailed):
            service.verify_mfa(token, issuer=ISSUER, recovery_code=typed)
    assert len(users.items[ANN].recovery_codes) == 10


def test_a_replayed_code_is_refused_and_counted(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    code = next_code(clock, on.secret)
    service.login_with_code(ANN, PASSWORD, code, issuer=ISSUER)
    sessions = users.items[ANN].sessions
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    with pytest.raises(LoginFailed) as refused:
        service.verify_mfa(token, issuer=ISSUER, code=code)
    assert not refused.value.locked
    assert counts(users) == (0, 1)
    assert users.items[ANN].sessions == sessions
    clock.now += 29  # still the same step: still refused
    with pytest.raises(LoginFailed):
        service.verify_mfa(token, issuer=ISSUER, code=code)


def test_an_earlier_code_in_the_window_is_refused_after_a_later_one(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    clock.now += 60  # two steps on from the confirming one
    ahead = totp_at(on.secret, clock.now + 30)  # the app's clock is a step ahead
    behind = totp_at(on.secret, clock.now)
    service.login_with_code(ANN, PASSWORD, ahead, issuer=ISSUER)
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    with pytest.raises(LoginFailed):
        service.verify_mfa(token, issuer=ISSUER, code=behind)


@pytest.mark.parametrize("steps", [-2, 2, 3])
def test_a_code_two_steps_or_more_away_is_refused(
    service: Flows, on: On, clock: Clock, steps: int
) -> None:
    clock.now += 120
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    with pytest.raises(LoginFailed):
        service.verify_mfa(token, issuer=ISSUER, code=totp_at(on.secret, clock.now + 30 * steps))


@pytest.mark.parametrize("steps", [-1, 1])
def test_a_code_one_step_away_is_accepted(service: Flows, on: On, clock: Clock, steps: int) -> None:
    clock.now += 120
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    service.verify_mfa(token, issuer=ISSUER, code=totp_at(on.secret, clock.now + 30 * steps))


def test_wrong_codes_lock_the_email_out(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    right = next_code(clock, on.secret)
    wrong = "000000" if right != "000000" else "111111"
    for attempt in range(1, MAX + 1):
        with pytest.raises(LoginFailed) as refused:
            service.verify_mfa(token, issuer=ISSUER, code=wrong)
        assert refused.value.locked is (attempt == MAX)
        assert counts(users) == (0, attempt)  # the account's own count, not FAILED#
    with pytest.raises(TooManyAttempts) as locked:
        service.verify_mfa(token, issuer=ISSUER, code=right)
    assert 0 < locked.value.retry_after <= service.settings.lockout_seconds
    assert answer_for(locked.value).status == 429
    assert error_headers(locked.value) == {"Retry-After": str(locked.value.retry_after)}
    with pytest.raises(TooManyAttempts):  # the password alone too: it is the email's
        service.start_login(ANN, PASSWORD, issuer=ISSUER)
    clock.now += service.settings.lockout_seconds
    again = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    assert service.verify_mfa(again, issuer=ISSUER, code=totp_at(on.secret, clock.now)).grant


def test_the_right_password_is_not_counted_but_earlier_failures_stay_until_verify(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    with pytest.raises(InvalidCredentials):
        service.start_login(ANN, WRONG, issuer=ISSUER)
    assert counts(users) == (1, 0)
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    assert counts(users) == (1, 0)  # not counted, not cleared
    with pytest.raises(LoginFailed):
        service.verify_mfa(token, issuer=ISSUER, code="000000")
    assert counts(users) == (1, 1)  # the wrong code on the account's own count
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    assert counts(users) == (1, 1)  # the right password clears neither
    service.verify_mfa(token, issuer=ISSUER, code=next_code(clock, on.secret))
    assert counts(users) == (0, 0)  # the whole login clears both


def test_passwords_alone_never_buy_more_code_guesses(
    service: Flows, users: FakeUsers, on: On
) -> None:
    # A thief with the password logs in again and again: the count still reaches MAX
    # after MAX wrong codes, whatever the logins between.
    for _ in range(MAX):
        token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
        with pytest.raises(LoginFailed):
            service.verify_mfa(token, issuer=ISSUER, code="000000")
    with pytest.raises(TooManyAttempts):
        service.start_login(ANN, PASSWORD, issuer=ISSUER)


def wrong_codes_at_verify(service: Flows, times: int = MAX) -> None:
    """`times` wrong codes at verify, each with a fresh mfa_token from the password."""
    for _ in range(times):
        token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
        with pytest.raises(LoginFailed):
            service.verify_mfa(token, issuer=ISSUER, code="000000")


def test_a_password_reset_after_wrong_codes_keeps_the_code_lock_out(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    """Whoever reads the owner's mail can reset the password at will: a reset ends the
    lock-out of wrong passwords, never the one wrong codes built (only a right code, or
    the lock's end, does), so resets give back no guesses at the code."""
    with pytest.raises(InvalidCredentials):
        service.start_login(ANN, WRONG, issuer=ISSUER)
    wrong_codes_at_verify(service)
    assert counts(users) == (1, MAX)
    service.forgot_password(ANN)
    service.deliver_queued()
    service.reset_password(service.token_for(ANN, "reset_password"), NEW_PASSWORD)
    assert counts(users) == (0, MAX)  # the passwords' count ended; the codes' kept
    assert users.items[ANN].code_failures.last_failure_at == int(clock.now)  # as it was
    with pytest.raises(TooManyAttempts) as locked:
        service.start_login(ANN, NEW_PASSWORD, issuer=ISSUER)
    assert 0 < locked.value.retry_after <= service.settings.lockout_seconds
    assert counts(users) == (0, MAX)  # the refused login counted nothing
    # The lock ends when it would have without the reset; a right code then clears it.
    clock.now += service.settings.lockout_seconds
    token = service.mfa_token_for(ANN, NEW_PASSWORD, issuer=ISSUER)
    service.verify_mfa(token, issuer=ISSUER, code=totp_at(on.secret, clock.now))
    assert counts(users) == (0, 0)


def test_failed_passwords_lock_the_code_too(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    # Either count at its limit locks the email: an mfa_token taken before the wrong
    # passwords gets no code checked once they lock it, the right code included.
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    for _ in range(MAX):
        with pytest.raises(InvalidCredentials):
            service.start_login(ANN, WRONG, issuer=ISSUER)
    with pytest.raises(TooManyAttempts):
        service.verify_mfa(token, issuer=ISSUER, code=next_code(clock, on.secret))
    assert counts(users) == (MAX, 0)  # the refused code was not counted
    assert users.items[ANN].totp_last_step < time_step(clock.now)  # nor accepted


def test_email_not_verified_comes_before_any_mfa_answer(
    users: FakeUsers, key_set: KeySet, clock: Clock
) -> None:
    service = flows_over(users, key_set=key_set, clock=clock, MFA="required")
    service.signup(ANN, PASSWORD)
    with pytest.raises(EmailNotVerified):
        service.start_login(ANN, PASSWORD, issuer=ISSUER)
    assert failures(users) == 0


# --- the mfa_token's bindings --------------------------------------------------------------


def test_a_password_change_voids_the_mfa_token(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    service.change_password(caller_of(on.grant), PASSWORD, NEW_PASSWORD)
    before = counts(users)
    with pytest.raises(InvalidMfaToken) as voided:
        service.verify_mfa(token, issuer=ISSUER, code=next_code(clock, on.secret))
    assert (answer_for(voided.value).status, answer_for(voided.value).code) == (
        401,
        "invalid_token",
    )
    assert counts(users) == before  # no code was checked
    assert users.items[ANN].totp_last_step < time_step(clock.now)  # nor accepted
    fresh = service.mfa_token_for(ANN, NEW_PASSWORD, issuer=ISSUER)
    service.verify_mfa(fresh, issuer=ISSUER, code=totp_at(on.secret, clock.now))


def test_a_password_reset_voids_the_mfa_token_and_keeps_mfa_on(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    service.forgot_password(ANN)
    service.deliver_queued()
    service.reset_password(service.token_for(ANN, "reset_password"), NEW_PASSWORD)
    with pytest.raises(InvalidMfaToken):
        service.verify_mfa(token, issuer=ISSUER, code=next_code(clock, on.secret))
    assert users.items[ANN].mfa_enabled  # a reset does not turn the factor off
    answer = service.start_login(ANN, NEW_PASSWORD, issuer=ISSUER)
    assert isinstance(answer, MfaToken)  # the next login still asks for the code
    assert answer.purpose is MfaPurpose.VERIFY
    verified = service.verify_mfa(answer, issuer=ISSUER, code=totp_at(on.secret, clock.now))
    assert verified.grant.access_token


def test_turning_mfa_off_voids_the_mfa_token(service: Flows, on: On, clock: Clock) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    service.disable_mfa(caller_of(on.grant), PASSWORD, code=next_code(clock, on.secret))
    with pytest.raises(InvalidMfaToken):
        service.verify_mfa(token, issuer=ISSUER, recovery_code=on.codes[0])


def test_the_mfa_token_expires_after_five_minutes(service: Flows, on: On, clock: Clock) -> None:
    late = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    clock.now += MFA_TOKEN_TTL_SECONDS + LEEWAY_SECONDS  # the verifiers' clock-skew leeway
    with pytest.raises(InvalidMfaToken):
        service.verify_mfa(late, issuer=ISSUER, code=totp_at(on.secret, clock.now))
    in_time = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    clock.now += MFA_TOKEN_TTL_SECONDS - 1
    service.verify_mfa(in_time, issuer=ISSUER, code=totp_at(on.secret, clock.now))


def test_an_enrolment_token_is_not_one_to_verify_with(
    users: FakeUsers, key_set: KeySet, clock: Clock
) -> None:
    service = make_service(users, key_set, clock, MFA="required")
    enrolment = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    assert enrolment.purpose is MfaPurpose.ENROLL
    with pytest.raises(InvalidMfaToken):
        service.verify_mfa(enrolment, issuer=ISSUER, code="123456")


def test_tokens_that_are_not_mfa_tokens_of_ours_are_refused(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    stored = users.items[ANN]
    challenge = MfaChallenge(
        user_id=stored.user_id,
        email=ANN,
        purpose=MfaPurpose.VERIFY,
        password_set_id=stored.password_set_id,
        sessions_epoch=stored.sessions_epoch,
    )
    foreign = issue_mfa_token(
        KeySet.generate().current, challenge, issuer=ISSUER, audience=AUDIENCE, now=clock.now
    )
    other_issuer = issue_mfa_token(
        service.signing_key(),
        challenge,
        issuer="https://else.example",
        audience=AUDIENCE,
        now=clock.now,
    )
    other_audience = issue_mfa_token(
        service.signing_key(), challenge, issuer=ISSUER, audience="another-api", now=clock.now
    )
    code = next_code(clock, on.secret)
    for token in (
        foreign.token,
        other_issuer.token,
        other_audience.token,
        on.grant.access_token,  # an access token is no mfa_token
        on.grant.refresh_token,
        "",
        "not.a.jwt",
    ):
        with pytest.raises(InvalidMfaToken):
            service.verify_mfa(token, issuer=ISSUER, code=code)
    assert counts(users) == (0, 0)
    # Our own, as the login makes it, does verify.
    ours = issue_mfa_token(
        service.signing_key(), challenge, issuer=ISSUER, audience=AUDIENCE, now=clock.now
    )
    service.verify_mfa(ours, issuer=ISSUER, code=code)


def test_an_mfa_token_for_a_replaced_account_is_refused(
    service: Flows, on: On, clock: Clock
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    service.delete_account(caller_of(on.grant), PASSWORD)
    service.signup_verified(ANN, PASSWORD)
    with pytest.raises(InvalidMfaToken):
        service.verify_mfa(token, issuer=ISSUER, code=next_code(clock, on.secret))


def test_mfa_tokens_are_refused_by_the_authorizer_and_by_refresh(
    service: Flows, on: On, key_set: KeySet, clock: Clock
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    verifier = AccessTokenVerifier(store_for(key_set), audience=AUDIENCE, clock=clock)
    authorizer = Authorizer(verifier, issuer=lambda: ISSUER)
    event = {"headers": {"authorization": f"Bearer {token.token}"}}
    assert authorizer.decide(event)[0] == DENY
    with pytest.raises(InvalidToken):
        service.refresh(token.token, issuer=ISSUER)


# --- the enrolment authorizer --------------------------------------------------------------


def enrolment_authorizer(key_set: KeySet, clock: Clock) -> Authorizer:
    store = store_for(key_set)
    return Authorizer(
        AccessTokenVerifier(store, audience=AUDIENCE, clock=clock),
        issuer=lambda: ISSUER,
        enrollment_tokens=MfaTokenVerifier(store, audience=AUDIENCE, clock=clock),
    )


def bearer(token: str) -> dict[str, Any]:
    return {"headers": {"authorization": f"Bearer {token}"}}


def test_the_enrolment_authorizer_takes_enrolment_tokens_with_their_own_context(
    users: FakeUsers, key_set: KeySet, clock: Clock
) -> None:
    service = make_service(users, key_set, clock, MFA="required")
    enrolment = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    decision, _ = enrolment_authorizer(key_set, clock).decide(bearer(enrolment.token))
    assert decision["isAuthorized"] is True
    context = decision["context"]
    _, claims = mfa_claims(enrolment)
    stored = users.items[ANN]
    assert context == {
        "sub": stored.user_id,
        "email": ANN,
        "sid": "",
        "roles": [],
        "email_verified": context["email_verified"],
        "acr": "aal1",
        "amr": ["pwd"],
        "mfa_enrollment": True,
        # What the enrolment routes check against the account: the password and epoch
        # the token was issued for.
        "psid": stored.password_set_id,
        "epoch": stored.sessions_epoch,
        "jti": claims["jti"],
        "exp": claims["exp"],
    }
    assert (claims["psid"], claims["epoch"]) == (stored.password_set_id, stored.sessions_epoch)
    assert context["jti"]
    # The plain authorizer denies it.
    store = store_for(key_set)
    plain = Authorizer(
        AccessTokenVerifier(store, audience=AUDIENCE, clock=clock), issuer=lambda: ISSUER
    )
    assert plain.decide(bearer(enrolment.token))[0] == DENY


def test_the_enrolment_authorizer_denies_verify_tokens(
    service: Flows, on: On, key_set: KeySet, clock: Clock
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    assert enrolment_authorizer(key_set, clock).decide(bearer(token.token))[0] == DENY


def test_the_enrolment_authorizer_takes_access_tokens_as_the_authorizer_does(
    service: Flows, on: On, key_set: KeySet, clock: Clock
) -> None:
    grant = service.login_with_code(ANN, PASSWORD, next_code(clock, on.secret), issuer=ISSUER)
    decision, _ = enrolment_authorizer(key_set, clock).decide(bearer(grant.access_token))
    assert decision["isAuthorized"] is True
    assert decision["context"]["acr"] == "aal2"
    assert decision["context"]["amr"] == ["pwd", "otp"]
    assert "mfa_enrollment" not in decision["context"]
    assert decision["context"]["sid"] == grant.session_id


def test_the_authorizers_context_carries_acr_and_amr(
    service: Flows, first: TokenGrant, key_set: KeySet, clock: Clock
) -> None:
    verifier = AccessTokenVerifier(store_for(key_set), audience=AUDIENCE, clock=clock)
    decision, _ = Authorizer(verifier, issuer=lambda: ISSUER).decide(bearer(first.access_token))
    assert (decision["context"]["acr"], decision["context"]["amr"]) == ("aal1", ["pwd"])


# --- amr/acr of sessions and refreshed tokens ----------------------------------------------


def test_a_password_login_is_aal1(
    service: Flows, first: TokenGrant, key_set: KeySet, clock: Clock
) -> None:
    claims = verified_claims(key_set, clock, first.access_token)
    assert (claims["amr"], claims["acr"]) == (["pwd"], "aal1")
    refreshed = service.refresh(first.refresh_token, issuer=ISSUER)
    claims = verified_claims(key_set, clock, refreshed.access_token)
    assert (claims["amr"], claims["acr"]) == (["pwd"], "aal1")


@pytest.mark.parametrize("factor", ["code", "recovery_code"])
def test_a_session_keeps_its_amr_and_acr_through_refreshes(
    service: Flows, on: On, key_set: KeySet, clock: Clock, factor: str
) -> None:
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    if factor == "code":
        grant = service.verify_mfa(token, issuer=ISSUER, code=next_code(clock, on.secret)).grant
        amr = ["pwd", "otp"]
    else:
        grant = service.verify_mfa(token, issuer=ISSUER, recovery_code=on.codes[0]).grant
        amr = ["pwd", "mfa"]
    for _ in range(3):
        clock.now += 60
        grant = service.refresh(grant.refresh_token, issuer=ISSUER)
        claims = verified_claims(key_set, clock, grant.access_token)
        assert (claims["amr"], claims["acr"]) == (amr, "aal2")


def test_the_session_mfa_was_turned_on_from_stays_aal1(
    service: Flows, on: On, key_set: KeySet
) -> None:
    # It was opened with the password alone: turning MFA on does not raise it.
    refreshed = service.refresh(on.grant.refresh_token, issuer=ISSUER)
    claims = jwt.decode(refreshed.access_token, options={"verify_signature": False})
    assert (claims["amr"], claims["acr"]) == (["pwd"], "aal1")


# --- renewing recovery codes ---------------------------------------------------------------


def test_renewing_with_a_code_issues_a_new_set_and_the_old_one_stops(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    renewed = service.renew_recovery_codes(
        caller_of(on.grant), PASSWORD, code=next_code(clock, on.secret)
    )
    assert len(renewed.codes) == 10
    assert not set(renewed.codes) & set(on.codes)
    assert renewed.notice_queued
    assert kinds(service) == [MailKind.RECOVERY_CODES_RENEWED]
    assert {c for c, _ in users.items[ANN].recovery_codes} == {c[:4] for c in renewed.codes}
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    for old in on.codes[:2]:
        with pytest.raises(LoginFailed):
            service.verify_mfa(token, issuer=ISSUER, recovery_code=old)
    service.verify_mfa(token, issuer=ISSUER, recovery_code=renewed.codes[0])


def test_renewing_with_a_recovery_code(service: Flows, users: FakeUsers, on: On) -> None:
    renewed = service.renew_recovery_codes(caller_of(on.grant), PASSWORD, recovery_code=on.codes[9])
    assert len(users.items[ANN].recovery_codes) == 10
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    with pytest.raises(LoginFailed):
        service.verify_mfa(token, issuer=ISSUER, recovery_code=on.codes[9])
    service.verify_mfa(token, issuer=ISSUER, recovery_code=renewed.codes[9])


def test_the_code_that_renewed_is_used(service: Flows, on: On, clock: Clock) -> None:
    code = next_code(clock, on.secret)
    service.renew_recovery_codes(caller_of(on.grant), PASSWORD, code=code)
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    with pytest.raises(LoginFailed):
        service.verify_mfa(token, issuer=ISSUER, code=code)


def test_renewing_clears_earlier_failures(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    with pytest.raises(InvalidCredentials):
        service.login(ANN, WRONG, issuer=ISSUER)
    with pytest.raises(LoginFailed):
        service.verify_mfa(
            service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER), issuer=ISSUER, code="000000"
        )
    assert counts(users) == (1, 1)
    service.renew_recovery_codes(caller_of(on.grant), PASSWORD, code=next_code(clock, on.secret))
    assert counts(users) == (0, 0)


@pytest.mark.parametrize("wrong", ["password", "code", "recovery_code"])
def test_renewing_with_a_wrong_factor_counts_and_changes_nothing(
    service: Flows, users: FakeUsers, on: On, clock: Clock, wrong: str
) -> None:
    right = next_code(clock, on.secret)
    before = users.items[ANN]
    caller = caller_of(on.grant)
    attempts = {
        "password": lambda: service.renew_recovery_codes(caller, WRONG, code=right),
        "code": lambda: service.renew_recovery_codes(caller, PASSWORD, code="000000"),
        "recovery_code": lambda: service.renew_recovery_codes(
            caller, PASSWORD, recovery_code="aaaa-bbbb-cccc-dddd-eeee"
        ),
    }
    with pytest.raises(InvalidCredentials):
        attempts[wrong]()
    # A wrong password on the email's count; a wrong code (the password right) on the
    # account's own.
    assert counts(users) == ((1, 0) if wrong == "password" else (0, 1))
    assert replace(users.items[ANN], code_failures=before.code_failures) == before
    assert kinds(service) == []


def test_renewing_answers_a_wrong_password_and_a_wrong_code_alike(
    service: Flows, on: On, clock: Clock
) -> None:
    # CONTRACT: "401 invalid_credentials (wrong password or wrong code, same answer)": the
    # message must not tell a thief with a stolen access token that the password was right.
    right = next_code(clock, on.secret)
    with pytest.raises(InvalidCredentials) as wrong_password:
        service.renew_recovery_codes(caller_of(on.grant), WRONG, code=right)
    with pytest.raises(InvalidCredentials) as wrong_code:
        service.renew_recovery_codes(caller_of(on.grant), PASSWORD, code="000000")
    assert type(wrong_password.value) is type(wrong_code.value)
    assert str(wrong_password.value) == str(wrong_code.value)


def test_renewing_without_mfa_is_refused_and_not_counted(
    service: Flows, users: FakeUsers, first: TokenGrant
) -> None:
    with pytest.raises(MfaNotEnabled):
        service.renew_recovery_codes(caller_of(first), PASSWORD, code="123456")
    assert counts(users) == (0, 0)


@pytest.mark.parametrize("by", ["passwords", "codes"])
def test_renewing_while_locked_out_is_refused(
    service: Flows, users: FakeUsers, on: On, clock: Clock, by: str
) -> None:
    if by == "passwords":
        for _ in range(MAX):
            with pytest.raises(InvalidCredentials):
                service.login(ANN, WRONG, issuer=ISSUER)
    else:
        wrong_codes_at_verify(service)
    before = users.items[ANN]
    for attempt in (service.renew_recovery_codes, service.disable_mfa):
        with pytest.raises(TooManyAttempts):
            attempt(caller_of(on.grant), PASSWORD, code=next_code(clock, on.secret))
    assert users.items[ANN] == before  # nothing renewed, nothing turned off or counted
    with pytest.raises(TooManyAttempts):  # nor a password change
        service.change_password(caller_of(on.grant), PASSWORD, NEW_PASSWORD)


# --- turning MFA off -----------------------------------------------------------------------


def test_turning_off_ends_every_other_session_and_keeps_the_callers(
    service: Flows, users: FakeUsers, on: On, clock: Clock, key_set: KeySet
) -> None:
    second = service.login_with_code(ANN, PASSWORD, next_code(clock, on.secret), issuer=ISSUER)
    third = service.login_with_code(ANN, PASSWORD, next_code(clock, on.secret), issuer=ISSUER)
    assert service.disable_mfa(caller_of(second), PASSWORD, code=next_code(clock, on.secret))
    stored = users.items[ANN]
    assert not stored.mfa_enabled
    assert (stored.totp_secret, stored.recovery_codes, stored.pending_totp_secret) == ("", (), "")
    assert [s.session_id for s in stored.sessions] == [second.session_id]
    assert refreshes(service, on.grant) == "account_changed"
    assert refreshes(service, third) == "account_changed"
    assert refreshes(service, second) == "ok"
    assert kinds(service) == [MailKind.MFA_DISABLED]
    assert counts(users) == (0, 0)
    # The password alone logs in again, at aal1; the old secret and codes are nothing.
    grant = service.login(ANN, PASSWORD, issuer=ISSUER)
    claims = verified_claims(key_set, clock, grant.access_token)
    assert (claims["amr"], claims["acr"]) == (["pwd"], "aal1")


def test_turning_off_with_a_recovery_code(service: Flows, users: FakeUsers, on: On) -> None:
    service.disable_mfa(caller_of(on.grant), PASSWORD, recovery_code=on.codes[2])
    assert not users.items[ANN].mfa_enabled
    assert [s.session_id for s in users.items[ANN].sessions] == [on.grant.session_id]


@pytest.mark.parametrize("wrong", ["password", "code", "recovery_code"])
def test_turning_off_needs_both_factors_and_a_wrong_one_counts(
    service: Flows, users: FakeUsers, on: On, clock: Clock, wrong: str
) -> None:
    other = service.login_with_code(ANN, PASSWORD, next_code(clock, on.secret), issuer=ISSUER)
    right = next_code(clock, on.secret)
    before = users.items[ANN]
    caller = caller_of(on.grant)
    attempts = {
        "password": lambda: service.disable_mfa(caller, WRONG, code=right),
        "code": lambda: service.disable_mfa(caller, PASSWORD, code="000000"),
        "recovery_code": lambda: service.disable_mfa(
            caller, PASSWORD, recovery_code=on.codes[0][:-1] + "a"
        ),
    }
    with pytest.raises(InvalidCredentials):
        attempts[wrong]()
    assert counts(users) == ((1, 0) if wrong == "password" else (0, 1))
    assert replace(users.items[ANN], code_failures=before.code_failures) == before
    assert refreshes(service, other) == "ok"
    assert kinds(service) == []


def test_turning_off_answers_a_wrong_password_and_a_wrong_code_alike(
    service: Flows, on: On, clock: Clock
) -> None:
    right = next_code(clock, on.secret)
    with pytest.raises(InvalidCredentials) as wrong_password:
        service.disable_mfa(caller_of(on.grant), WRONG, code=right)
    with pytest.raises(InvalidCredentials) as wrong_code:
        service.disable_mfa(caller_of(on.grant), PASSWORD, code="000000")
    assert type(wrong_password.value) is type(wrong_code.value)
    assert str(wrong_password.value) == str(wrong_code.value)


def test_turning_off_with_a_used_code_is_refused(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    code = next_code(clock, on.secret)
    service.login_with_code(ANN, PASSWORD, code, issuer=ISSUER)
    with pytest.raises(InvalidCredentials):
        service.disable_mfa(caller_of(on.grant), PASSWORD, code=code)
    assert users.items[ANN].mfa_enabled


def test_turning_off_without_mfa_is_refused_and_not_counted(
    service: Flows, users: FakeUsers, first: TokenGrant
) -> None:
    with pytest.raises(MfaNotEnabled):
        service.disable_mfa(caller_of(first), PASSWORD, code="123456")
    assert counts(users) == (0, 0)


def test_after_turning_off_a_new_enrolment_has_a_new_secret(
    service: Flows, users: FakeUsers, on: On, clock: Clock
) -> None:
    service.disable_mfa(caller_of(on.grant), PASSWORD, code=next_code(clock, on.secret))
    clock.now += 30
    secret, _ = service.enable_mfa(caller_of(on.grant), PASSWORD)
    assert secret != on.secret
    token = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    clock.now += 30
    with pytest.raises(LoginFailed):  # the old app's code
        service.verify_mfa(token, issuer=ISSUER, code=totp_at(on.secret, clock.now))
    with pytest.raises(LoginFailed):  # the old set's codes
        service.verify_mfa(token, issuer=ISSUER, recovery_code=on.codes[0])
    service.verify_mfa(token, issuer=ISSUER, code=totp_at(secret, clock.now))


# --- MFA=required --------------------------------------------------------------------------


def test_required_mfa_sends_an_account_without_it_to_enrol_first(
    users: FakeUsers, key_set: KeySet, clock: Clock
) -> None:
    service = make_service(users, key_set, clock, MFA="required")
    answer = service.start_login(ANN, PASSWORD, issuer=ISSUER)
    assert isinstance(answer, MfaToken)
    assert (answer.purpose, answer.expires_in) == (MfaPurpose.ENROLL, 300)
    _, claims = mfa_claims(answer)
    assert claims["purpose"] == "enroll"
    assert users.items[ANN].sessions == ()  # no session
    assert counts(users) == (0, 0)
    # The enrolment routes take it (through the enrolment authorizer's caller)...
    caller = caller_of_enrollment(answer)
    assert caller.session_id == ""
    secret = service.enroll_totp(caller, PASSWORD).secret
    issued = service.confirm_totp(caller, totp_at(secret, clock.now))
    assert len(issued.codes) == 10
    # ...then the client logs in again: password, then a code.
    again = service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER)
    assert again.purpose is MfaPurpose.VERIFY
    grant = service.verify_mfa(again, issuer=ISSUER, code=next_code(clock, secret)).grant
    claims = verified_claims(key_set, clock, grant.access_token)
    assert claims["acr"] == "aal2"


def test_required_mfa_with_a_wrong_password_is_a_failed_login(
    users: FakeUsers, key_set: KeySet, clock: Clock
) -> None:
    service = make_service(users, key_set, clock, MFA="required")
    with pytest.raises(InvalidCredentials):
        service.start_login(ANN, WRONG, issuer=ISSUER)
    assert failures(users) == 1


def test_an_enrolment_token_from_before_a_reset_is_void(
    users: FakeUsers, key_set: KeySet, clock: Clock
) -> None:
    """MFA=required: an enrolment token is bound to the password and epoch it was issued
    for (its psid, epoch, passed on by the enrolment authorizer). After a reset, the one
    a thief kept neither enrols nor confirms the owner's new enrolment, and its attempts
    count nothing."""
    service = make_service(users, key_set, clock, MFA="required")
    thief = caller_of_enrollment(service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER))
    service.forgot_password(ANN)
    service.deliver_queued()
    service.reset_password(service.token_for(ANN, "reset_password"), NEW_PASSWORD)
    with pytest.raises(InvalidMfaToken) as voided:
        service.enroll_totp(thief, NEW_PASSWORD)
    assert (answer_for(voided.value).status, answer_for(voided.value).code) == (
        401,
        "invalid_token",
    )
    assert users.items[ANN].pending_totp_secret == ""
    owner = caller_of_enrollment(service.mfa_token_for(ANN, NEW_PASSWORD, issuer=ISSUER))
    assert (owner.password_set_id, owner.sessions_epoch) == (
        users.items[ANN].password_set_id,
        users.items[ANN].sessions_epoch,
    )
    secret = service.enroll_totp(owner, NEW_PASSWORD).secret
    with pytest.raises(InvalidMfaToken):
        service.confirm_totp(thief, totp_at(secret, clock.now))
    assert not users.items[ANN].mfa_enabled
    assert counts(users) == (0, 0)
    # The owner's own token confirms.
    assert len(service.confirm_totp(owner, totp_at(secret, clock.now)).codes) == 10


def test_optional_mfa_leaves_an_account_without_it_as_before(service: Flows) -> None:
    assert isinstance(service.start_login(ANN, PASSWORD, issuer=ISSUER), TokenGrant)


# --- the pending enrolment and the password ------------------------------------------------


@pytest.mark.parametrize("how", ["reset", "change"])
def test_a_new_password_ends_a_pending_enrolment(
    service: Flows, users: FakeUsers, first: TokenGrant, clock: Clock, how: str
) -> None:
    """Someone who knew the password began an enrolment (with an access token, or an
    enrolment token under MFA=required, both still valid for minutes); the owner sets a
    new password. Confirming the thief's secret must not turn MFA on: the owner would be
    locked out for good (a reset does not turn MFA off) and the thief hold the codes."""
    thief = caller_of(first)
    secret = service.enroll_totp(thief, PASSWORD).secret
    if how == "reset":
        service.forgot_password(ANN)
        service.deliver_queued()
        service.reset_password(service.token_for(ANN, "reset_password"), NEW_PASSWORD)
    else:
        owner = service.login(ANN, PASSWORD, issuer=ISSUER)
        service.change_password(caller_of(owner), PASSWORD, NEW_PASSWORD)
    with pytest.raises((MfaNotEnrolling, InvalidCredentials, InvalidToken)):
        service.confirm_totp(thief, totp_at(secret, clock.now))
    assert not users.items[ANN].mfa_enabled
    assert isinstance(service.start_login(ANN, NEW_PASSWORD, issuer=ISSUER), TokenGrant)
