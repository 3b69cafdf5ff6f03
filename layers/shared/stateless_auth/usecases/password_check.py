"""Checking an account's password under the lock-out rule: login, password change and
account deletion share it, so a wrong current password at either of the last two counts
as a failed login for the email (CONTRACT §5), under the same concurrency guarantee."""

from __future__ import annotations

import time
from collections.abc import Callable

from stateless_auth.config import Settings
from stateless_auth.domain import passwords
from stateless_auth.domain.accounts import User
from stateless_auth.domain.errors import LoginFailed, TooManyAttempts
from stateless_auth.domain.lockout import FailedLogins, keep_failures_for, refuse_if_locked
from stateless_auth.domain.ports import UserStore


def reserve_attempt(
    normalised_email: str,
    *,
    users: UserStore,
    settings: Settings,
    clock: Callable[[], float] = time.time,
) -> tuple[User | None, FailedLogins]:
    """The account (None for an unknown email, or a never-verified one past its expiry)
    and the email's failure record once this attempt is counted in it as a failure.

    TooManyAttempts while the email is locked out. The reservation is a conditional
    write, so concurrent attempts cannot check more credentials (a password, a second
    factor's code) than the failures left before the lock-out; the caller clears the
    count when its whole operation succeeds.
    """
    user, failures = users.load_for_login(normalised_email)
    started = clock()
    now = int(started)
    if user is not None and user.expired(now):
        user = None  # DynamoDB's TTL deletes late
    max_failures, lockout_seconds = settings.max_failed_logins, settings.lockout_seconds
    refuse_if_locked(failures, started, max_failures=max_failures, lockout_seconds=lockout_seconds)
    if user is not None:
        # Wrong second-factor codes lock the email's logins too (their own count).
        refuse_if_locked(
            user.code_failures, started, max_failures=max_failures, lockout_seconds=lockout_seconds
        )
    reserved, failures = users.reserve_login_attempt(
        normalised_email,
        failures,
        now=now,
        max_failures=max_failures,
        lockout_seconds=lockout_seconds,
        keep_for=keep_failures_for(lockout_seconds),
    )
    if not reserved:
        # Refused by the record as it now stands: locked (its retry-after), or contended.
        refuse_if_locked(
            failures, started, max_failures=max_failures, lockout_seconds=lockout_seconds
        )
        raise TooManyAttempts("too many failed logins; try again later", 1)
    return user, failures


def reserve_code_attempt(
    user: User,
    password_failures: FailedLogins,
    *,
    users: UserStore,
    settings: Settings,
    clock: Callable[[], float] = time.time,
) -> FailedLogins:
    """The account's count of wrong second-factor codes once this attempt is counted in
    it, before the code is checked: the same rule and guarantee as `reserve_attempt`, on
    the account's own count, which a password reset or change leaves alone (only a right
    code clears it), so neither gives back guesses at the code. TooManyAttempts while
    the email is locked out by either count; AccountChanged if the account is gone."""
    started = clock()
    max_failures, lockout_seconds = settings.max_failed_logins, settings.lockout_seconds
    for counted in (password_failures, user.code_failures):
        refuse_if_locked(
            counted, started, max_failures=max_failures, lockout_seconds=lockout_seconds
        )
    reserved, codes = users.reserve_code_attempt(
        user,
        user.code_failures,
        now=int(started),
        max_failures=max_failures,
        lockout_seconds=lockout_seconds,
    )
    if not reserved:
        refuse_if_locked(codes, started, max_failures=max_failures, lockout_seconds=lockout_seconds)
        raise TooManyAttempts("too many failed logins; try again later", 1)
    return codes


def check_password(
    normalised_email: str,
    password: str,
    *,
    users: UserStore,
    settings: Settings,
    unknown_email_hash: str,
    clock: Callable[[], float] = time.time,
) -> User:
    """The account, if `password` is its password.

    LoginFailed (an InvalidCredentials) for an unknown email or a wrong password: the
    same answer after the same work, an unknown email's password being checked against
    `unknown_email_hash` (`passwords.unusable_hash()`, a constant of the current parameters). A
    never-verified account past its expiry is an unknown email. TooManyAttempts while
    the email is locked out, even with the right password. Every attempt is first
    reserved as a failure (`reserve_attempt`); the caller clears the count when its
    whole operation succeeds.
    """
    user, failures = reserve_attempt(normalised_email, users=users, settings=settings, clock=clock)
    matched = passwords.verify_password(
        user.password_hash if user else unknown_email_hash, password
    )
    if user is None or not matched:
        # The reservation already counted this failure.
        raise LoginFailed(failures.count >= settings.max_failed_logins)
    return user
