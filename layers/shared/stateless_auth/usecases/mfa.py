"""The second factor's flows: enrol a TOTP app (with the password), confirm it (with a
code: MFA is on, recovery codes are issued), finish a login with a code or a recovery
code, renew the recovery codes and turn the factor off (each with the password and a
code). Every code is accepted in the same conditional write as what it authorises
(storage: `factor_clauses`), so a code, or a recovery code, works once however many
requests race with it.

The lock-out (CONTRACT §5) covers the second factor: every code is first reserved as a
failure on the account's own count of wrong codes (`reserve_code_attempt`), so a wrong
code counts, concurrent guesses cannot exceed the failures left, and either count at
its limit locks the email's logins. Only a right code clears the codes' count: a
password reset or change, which end a password lock-out, give back no guesses at the
code.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from stateless_auth.config import Settings
from stateless_auth.domain import factors, mfa
from stateless_auth.domain.accounts import Caller, User
from stateless_auth.domain.errors import (
    DependencyUnavailable,
    InvalidCode,
    InvalidCredentials,
    InvalidMfaToken,
    LoginFailed,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    MfaNotEnrolling,
    TokenVerificationError,
)
from stateless_auth.domain.lockout import FailedLogins
from stateless_auth.domain.mail import SERVICE_NAME, MailKind
from stateless_auth.domain.ports import MailQueue, SessionStore, UserStore
from stateless_auth.domain.sessions import AccountChanged, TokenGrant
from stateless_auth.tokens.keys import SigningKey
from stateless_auth.tokens.mfa_tokens import MfaPurpose, MfaTokenVerifier
from stateless_auth.usecases.login import open_session
from stateless_auth.usecases.notices import queue_notice
from stateless_auth.usecases.password_check import check_password, reserve_code_attempt

INCORRECT = "the password or code is incorrect"
VOID_ENROLLMENT = "the password changed since this enrolment token was issued; log in again"
WRONG_CODE = "the code is incorrect"


@dataclass(frozen=True)
class SecondFactor:
    """What the caller typed as its second factor: a TOTP code or a recovery code."""

    code: str | None = None
    recovery_code: str | None = None


@dataclass(frozen=True)
class Enrollment:
    secret: str
    otpauth_uri: str


@dataclass(frozen=True)
class NewRecoveryCodes:
    codes: tuple[str, ...]
    notice_queued: bool


def accepted_factor(user: User, typed: SecondFactor, *, now: float) -> factors.FactorUse | None:
    """What accepting `typed` would write for `user`, or None if it is wrong or used:
    a TOTP code of a step later than the last accepted one, or a recovery code whose
    hash is still stored (an unknown id costs the same hash)."""
    if typed.code is not None:
        step = mfa.accepted_step(
            user.totp_secret, typed.code, now=now, after_step=user.totp_last_step
        )
        return None if step is None else factors.TotpUse(user.totp_secret, step)
    parsed = mfa.parse_recovery_code(typed.recovery_code or "")
    code_id, code = parsed if parsed is not None else ("", "")
    stored = user.recovery_code_hash(code_id) if parsed is not None else None
    if not mfa.recovery_code_matches(stored, code) or stored is None:
        return None
    return factors.RecoveryCodeUse(code_id, stored)


def _own_account(
    caller: Caller,
    password: str,
    *,
    users: UserStore,
    settings: Settings,
    unknown_email_hash: str,
    clock: Callable[[], float],
) -> User:
    """The caller's account, its password checked under the lock-out rule (a wrong one
    counts). The reservation stays until the caller's whole operation is done."""
    user = check_password(
        caller.email,
        password,
        users=users,
        settings=settings,
        unknown_email_hash=unknown_email_hash,
        clock=clock,
    )
    if user.user_id != caller.user_id:
        # The token outlived its account; the password was right, so no failure.
        _release(users, caller.email)
        raise InvalidCredentials(INCORRECT)
    if caller.bound_to_other_than(user):
        _release(users, caller.email)
        raise InvalidMfaToken(VOID_ENROLLMENT)
    return user


def _release(users: UserStore, email: str) -> None:
    """Take a reserved attempt back, best effort: were the write lost, the attempt stays
    counted, which errs on the safe side, and the answer stands."""
    with contextlib.suppress(DependencyUnavailable):
        users.release_login_attempt(email)


def _clear(users: UserStore, email: str) -> None:
    """Clear the failure count after a change that committed, best effort: a failure
    here must not turn a done change (and its new codes) into a 503."""
    with contextlib.suppress(DependencyUnavailable):
        users.clear_failed_logins(email)


# -- enrolment ---------------------------------------------------------------------


def enroll_totp(
    caller: Caller,
    password: str,
    *,
    users: UserStore,
    settings: Settings,
    unknown_email_hash: str,
    clock: Callable[[], float] = time.time,
) -> Enrollment:
    """A new TOTP secret, pending until confirmed (PENDING_ENROLLMENT_SECONDS); a second
    enrol replaces a pending one. InvalidCredentials for a wrong password (counted),
    MfaAlreadyEnabled if the account has a factor (turning it off needs both)."""
    user = _own_account(
        caller,
        password,
        users=users,
        settings=settings,
        unknown_email_hash=unknown_email_hash,
        clock=clock,
    )
    # The password was right, but no second factor was shown: take the reservation
    # back, without clearing failures counted before (codes guessed at login).
    _release(users, caller.email)
    if user.mfa_enabled:
        raise MfaAlreadyEnabled("two-step verification is already on; turn it off first")
    secret = mfa.new_totp_secret()
    try:
        users.start_totp_enrollment(
            user, secret=secret, expires_at=int(clock()) + mfa.PENDING_ENROLLMENT_SECONDS
        )
    except AccountChanged:
        fresh = users.get_by_email(caller.email)
        if fresh is not None and fresh.user_id == user.user_id and fresh.mfa_enabled:
            raise MfaAlreadyEnabled(
                "two-step verification is already on; turn it off first"
            ) from None
        raise InvalidCredentials(INCORRECT) from None  # the password changed meanwhile
    return Enrollment(
        secret=secret,
        otpauth_uri=mfa.provisioning_uri(secret, account=user.email, issuer_name=SERVICE_NAME),
    )


def confirm_totp(
    caller: Caller,
    code: str,
    *,
    users: UserStore,
    mail: MailQueue,
    settings: Settings,
    clock: Callable[[], float] = time.time,
) -> NewRecoveryCodes:
    """Turn MFA on with the pending secret, if `code` is one of its codes (its step then
    counts as used), and issue the recovery codes (shown once). MfaNotEnrolling with no
    pending enrolment (none, or expired), InvalidCode for a wrong code, MfaAlreadyEnabled
    if a factor is on already.

    A wrong code counts, as at verify (`reserve_code_attempt`): a stolen access token
    must not get unlimited guesses at the code of an enrolment its owner began (a right
    guess would hand the thief the recovery codes); TooManyAttempts while the email is
    locked out.
    """
    user, password_failures = users.load_for_login(caller.email)
    now = clock()
    if user is None or user.user_id != caller.user_id:
        raise MfaNotEnrolling("no two-step verification set-up to confirm: enrol first")
    if caller.bound_to_other_than(user):
        raise InvalidMfaToken(VOID_ENROLLMENT)
    if user.mfa_enabled:
        raise MfaAlreadyEnabled("two-step verification is already on")
    if not user.pending_totp_secret or user.pending_totp_expires_at <= now:
        raise MfaNotEnrolling("no two-step verification set-up to confirm: enrol again")
    try:
        reserve_code_attempt(user, password_failures, users=users, settings=settings, clock=clock)
    except AccountChanged:
        raise MfaNotEnrolling("no two-step verification set-up to confirm: enrol again") from None
    step = mfa.accepted_step(user.pending_totp_secret, code, now=now, after_step=0)
    if step is None:
        raise InvalidCode(WRONG_CODE)  # the reservation counts it
    codes = mfa.new_recovery_codes()
    try:
        users.enable_totp(
            user,
            secret=user.pending_totp_secret,
            step=step,
            recovery_codes=codes.hashes,
            now=int(now),
        )
    except AccountChanged:
        fresh = users.get_by_email(caller.email)
        if fresh is not None and fresh.user_id == user.user_id and fresh.mfa_enabled:
            raise MfaAlreadyEnabled("two-step verification is already on") from None
        raise MfaNotEnrolling(
            "the set-up changed meanwhile (a new enrolment, or it expired): enrol again"
        ) from None
    # enable_totp cleared the count of wrong codes: this one was right.
    return NewRecoveryCodes(codes.codes, queue_notice(mail, MailKind.MFA_ENABLED, user.email))


# -- login's second step -----------------------------------------------------------


@dataclass(frozen=True)
class VerifiedLogin:
    grant: TokenGrant
    delivery: str
    used_recovery_code: bool
    notice_queued: bool


def verify_login(
    mfa_token: str,
    typed: SecondFactor,
    *,
    user_agent: str,
    ip: str,
    users: UserStore,
    sessions: SessionStore,
    mail: MailQueue,
    verifier: MfaTokenVerifier,
    signing_key: Callable[[], SigningKey],
    issuer: str,
    settings: Settings,
    clock: Callable[[], float] = time.time,
) -> VerifiedLogin:
    """Finish a login with its second factor: a session whose tokens say how (`amr`).

    InvalidMfaToken for an mfa_token that is malformed, expired or not ours, or whose
    account changed since the password was checked (another password, a reset, the
    factor turned off); MfaTokenUsed (one) for one that already opened a session, which
    counts as a failed attempt, as a replayed code does. LoginFailed for a wrong, replayed or used code, counted toward
    the email's lock-out; TooManyAttempts while it is locked out. A used recovery code
    sends a notice.
    """
    try:
        challenge = verifier.verify(mfa_token, issuer=issuer, purpose=MfaPurpose.VERIFY)
    except TokenVerificationError:
        raise InvalidMfaToken("the mfa_token is invalid or expired; log in again") from None
    key = signing_key()  # before any write, as login
    user, password_failures = users.load_for_login(challenge.email)
    if (
        user is None
        or user.expired(clock())
        or user.user_id != challenge.user_id
        or user.password_set_id != challenge.password_set_id
        or user.sessions_epoch != challenge.sessions_epoch
        or not user.mfa_enabled
    ):
        # The login this token continues no longer holds; no code is checked.
        raise InvalidMfaToken("the account changed since this login began; log in again")
    try:
        counted = reserve_code_attempt(
            user, password_failures, users=users, settings=settings, clock=clock
        )
    except AccountChanged:
        raise InvalidMfaToken("the account changed since this login began; log in again") from None
    locked = counted.count >= settings.max_failed_logins
    factor = accepted_factor(user, typed, now=clock())
    if factor is None:
        raise LoginFailed(locked, WRONG_CODE)
    try:
        grant = open_session(
            user,
            None,
            user_agent=user_agent,
            ip=ip,
            users=users,
            sessions=sessions,
            key=key,
            issuer=issuer,
            settings=settings,
            clock=clock,
            factor=factor,
            spends=factors.SpentMfaToken(challenge.token_id, challenge.expires_at),
        )
    except InvalidCredentials:
        # The write refused the factor (a concurrent login used this code or step) or
        # the account changed under it: a failed attempt, as a wrong code.
        raise LoginFailed(locked, WRONG_CODE) from None
    except DependencyUnavailable:
        # The code was right: a store that failed afterwards must not leave the attempt
        # counted (as login). Nothing was accepted, so the same code works on retry.
        with contextlib.suppress(DependencyUnavailable):
            users.clear_code_failures(user)
        raise
    used_recovery = isinstance(factor, factors.RecoveryCodeUse)
    queued = used_recovery and queue_notice(mail, MailKind.RECOVERY_CODE_USED, user.email)
    return VerifiedLogin(grant, challenge.delivery, used_recovery, queued)


# -- with the password and the factor ------------------------------------------------


def _account_with_factor(
    caller: Caller,
    password: str,
    typed: SecondFactor,
    *,
    users: UserStore,
    settings: Settings,
    unknown_email_hash: str,
    clock: Callable[[], float],
) -> tuple[User, factors.FactorUse]:
    """The caller's account and its accepted factor: a wrong password counts as a failed
    login, a wrong code as a wrong code; both give the same answer."""
    try:
        user = _own_account(
            caller,
            password,
            users=users,
            settings=settings,
            unknown_email_hash=unknown_email_hash,
            clock=clock,
        )
    except LoginFailed as failed:
        raise LoginFailed(failed.locked, INCORRECT) from None
    # The password was right: its reservation goes back, and the code is counted on its
    # own (`reserve_code_attempt`), which only a right code clears.
    _release(users, caller.email)
    if not user.mfa_enabled:
        raise MfaNotEnabled("two-step verification is not on")
    try:
        counted = reserve_code_attempt(
            user, FailedLogins(), users=users, settings=settings, clock=clock
        )
    except AccountChanged:
        raise LoginFailed(False, INCORRECT) from None
    factor = accepted_factor(user, typed, now=clock())
    if factor is None:
        raise LoginFailed(counted.count >= settings.max_failed_logins, INCORRECT)
    return user, factor


def renew_recovery_codes(
    caller: Caller,
    password: str,
    typed: SecondFactor,
    *,
    users: UserStore,
    mail: MailQueue,
    settings: Settings,
    unknown_email_hash: str,
    clock: Callable[[], float] = time.time,
) -> NewRecoveryCodes:
    """A fresh set of recovery codes (the old ones stop working), with the password and
    a code. InvalidCredentials for either wrong (one failed login), MfaNotEnabled."""
    user, factor = _account_with_factor(
        caller,
        password,
        typed,
        users=users,
        settings=settings,
        unknown_email_hash=unknown_email_hash,
        clock=clock,
    )
    codes = mfa.new_recovery_codes()
    try:
        users.renew_recovery_codes(user, factor=factor, recovery_codes=codes.hashes)
    except AccountChanged:
        raise LoginFailed(
            False, INCORRECT
        ) from None  # the code was used meanwhile, or the password changed
    _clear(users, caller.email)  # both factors were right
    return NewRecoveryCodes(
        codes.codes, queue_notice(mail, MailKind.RECOVERY_CODES_RENEWED, user.email)
    )


def disable_mfa(
    caller: Caller,
    password: str,
    typed: SecondFactor,
    *,
    users: UserStore,
    mail: MailQueue,
    settings: Settings,
    unknown_email_hash: str,
    clock: Callable[[], float] = time.time,
) -> bool:
    """Turn the second factor off, with the password and a code: every other session
    ends, the caller's is kept. Whether the notice was queued. InvalidCredentials for
    either wrong (one failed login), MfaNotEnabled."""
    user, factor = _account_with_factor(
        caller,
        password,
        typed,
        users=users,
        settings=settings,
        unknown_email_hash=unknown_email_hash,
        clock=clock,
    )
    for attempt in range(2):
        kept = next((s for s in user.sessions if s.session_id == caller.session_id), None)
        try:
            users.disable_mfa(user, factor=factor, keep_session=kept)
            break
        except AccountChanged:
            # As a password change: a session ended since the read (logout-all) is not
            # written back; read again and go on only if nothing else changed.
            fresh = users.get_by_email(user.email) if attempt == 0 else None
            if fresh is None or (
                fresh.user_id,
                fresh.password_hash,
                fresh.totp_secret,
                fresh.totp_last_step,
                fresh.recovery_codes,
            ) != (
                user.user_id,
                user.password_hash,
                user.totp_secret,
                user.totp_last_step,
                user.recovery_codes,
            ):
                raise LoginFailed(False, INCORRECT) from None
            user = fresh
    _clear(users, caller.email)
    return queue_notice(mail, MailKind.MFA_DISABLED, user.email)
