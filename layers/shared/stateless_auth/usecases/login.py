"""Log in: check the password under the lock-out rule and open a session."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from stateless_auth.config import Settings
from stateless_auth.domain import passwords
from stateless_auth.domain.emails import normalise_email
from stateless_auth.domain.errors import (
    EmailNotVerified,
    InvalidCredentials,
    LoginFailed,
    TooManyAttempts,
)
from stateless_auth.domain.lockout import keep_failures_for, refuse_if_locked
from stateless_auth.domain.ports import SessionStore, UserStore
from stateless_auth.domain.sessions import AccountChanged, TokenGrant, TokenRecord, TokenState
from stateless_auth.tokens.keys import SigningKey
from stateless_auth.tokens.refresh_tokens import hash_refresh_token, new_refresh_token
from stateless_auth.usecases.grants import grant_tokens


def log_in(
    email: str,
    password: str,
    *,
    users: UserStore,
    sessions: SessionStore,
    signing_key: Callable[[], SigningKey],
    issuer: str,
    settings: Settings,
    unknown_email_hash: str,
    clock: Callable[[], float] = time.time,
) -> TokenGrant:
    """Check the password and open a session.

    LoginFailed (an InvalidCredentials) for an unknown email or a wrong password: the
    same answer after the same work, an unknown email's password being checked against
    `unknown_email_hash` (`passwords.unusable_hash()`, made once at start-up).
    EmailNotVerified for the right password of an unverified account under
    EMAIL_VERIFICATION=required (only after the password matched, so it reveals nothing
    to someone without it). A never-verified account past its expiry is an unknown email.
    TooManyAttempts while the email is locked out, even with the right password. Every
    attempt first reserves one of the failures left before the lock-out, with a
    conditional write, so concurrent attempts cannot check more passwords than that.
    """
    normalised_email = normalise_email(email)
    # Before any write, so a key outage answers 503 and changes nothing (not even the
    # reservation below), and before the password check for every email alike.
    key = signing_key()
    user, failures = users.load_for_login(normalised_email)
    started = clock()
    now = int(started)
    if user is not None and user.expired(now):
        user = None  # DynamoDB's TTL deletes late
    max_failures, lockout_seconds = settings.max_failed_logins, settings.lockout_seconds
    refuse_if_locked(failures, started, max_failures=max_failures, lockout_seconds=lockout_seconds)
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
    matched = passwords.verify_password(
        user.password_hash if user else unknown_email_hash, password
    )
    if user is None or not matched:
        # The reservation already counted this failure.
        raise LoginFailed(failures.count >= max_failures)
    if settings.email_verification_required and not user.email_verified:
        # The password was right: the reserved failure is not one.
        users.clear_failed_logins(normalised_email)
        raise EmailNotVerified("verify your email first: follow the link we sent you")
    if passwords.needs_rehash(user.password_hash) and not users.update_password_hash(
        normalised_email, passwords.hash_password(password), replaces=user.password_hash
    ):
        # A reset landed since the read: this password is no longer the account's.
        raise InvalidCredentials("the email or password is incorrect")
    now = int(clock())
    refresh_token = new_refresh_token()
    record = TokenRecord(
        token_hash=hash_refresh_token(refresh_token),
        session_id=str(uuid.uuid4()),
        user_id=user.user_id,
        email=user.email,
        roles=user.roles,
        state=TokenState.CURRENT,
        session_expires_at=now + settings.refresh_token_ttl,
        email_verified=user.email_verified,
        sessions_epoch=user.sessions_epoch,
    )
    # Opening the session also clears the email's failure count (one transaction), on
    # the condition that the account is still the one read, at its epoch: a login racing
    # a reset never opens a session for the password the reset replaced.
    try:
        sessions.create(record, now=now, clear_failures_of=normalised_email)
    except AccountChanged:
        raise InvalidCredentials("the email or password is incorrect") from None
    return grant_tokens(record, refresh_token, key=key, issuer=issuer, settings=settings, now=now)
