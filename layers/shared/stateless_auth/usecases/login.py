"""Log in: check the password under the lock-out rule and open a session."""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import Callable

from stateless_auth.config import Settings
from stateless_auth.domain import passwords
from stateless_auth.domain.accounts import User
from stateless_auth.domain.emails import normalise_email
from stateless_auth.domain.errors import (
    DependencyUnavailable,
    EmailNotVerified,
    InvalidCredentials,
)
from stateless_auth.domain.ports import SessionStore, UserStore
from stateless_auth.domain.sessions import (
    USER_AGENT_MAX_LENGTH,
    AccountChanged,
    SessionInfo,
    TokenGrant,
    TokenRecord,
    TokenState,
)
from stateless_auth.tokens.keys import SigningKey
from stateless_auth.tokens.refresh_tokens import hash_refresh_token, new_refresh_token
from stateless_auth.usecases.grants import grant_tokens
from stateless_auth.usecases.password_check import check_password


def log_in(
    email: str,
    password: str,
    *,
    user_agent: str = "",
    ip: str = "",
    users: UserStore,
    sessions: SessionStore,
    signing_key: Callable[[], SigningKey],
    issuer: str,
    settings: Settings,
    unknown_email_hash: str,
    clock: Callable[[], float] = time.time,
) -> TokenGrant:
    """Check the password (`check_password`: its errors and lock-out) and open a
    session, listed on the account with the client's `user_agent` and `ip`.

    EmailNotVerified for the right password of an unverified account under
    EMAIL_VERIFICATION=required (only after the password matched, so it reveals nothing
    to someone without it).
    """
    normalised_email = normalise_email(email)
    # Before any write, so a key outage answers 503 and changes nothing (not even the
    # reservation below), and before the password check for every email alike.
    key = signing_key()
    user = check_password(
        normalised_email,
        password,
        users=users,
        settings=settings,
        unknown_email_hash=unknown_email_hash,
        clock=clock,
    )
    if settings.email_verification_required and not user.email_verified:
        # The password was right: the reserved failure is not one.
        users.clear_failed_logins(normalised_email)
        raise EmailNotVerified("verify your email first: follow the link we sent you")
    try:
        return _open_session(
            user,
            password,
            user_agent=user_agent,
            ip=ip,
            users=users,
            sessions=sessions,
            key=key,
            issuer=issuer,
            settings=settings,
            clock=clock,
        )
    except DependencyUnavailable:
        # The password was right: a store that failed afterwards must not leave the
        # reserved attempt counted, or a user retrying through a brownout, as Retry-After
        # asks, would lock themselves out. Best effort: the 503 stands either way.
        with contextlib.suppress(DependencyUnavailable):
            users.clear_failed_logins(normalised_email)
        raise


def _open_session(
    user: User,
    password: str,
    *,
    user_agent: str,
    ip: str,
    users: UserStore,
    sessions: SessionStore,
    key: SigningKey,
    issuer: str,
    settings: Settings,
    clock: Callable[[], float],
) -> TokenGrant:
    normalised_email = user.email
    if passwords.needs_rehash(user.password_hash):
        rehashed = passwords.hash_password(password)
        if not users.update_password_hash(normalised_email, rehashed, replaces=user.password_hash):
            # A reset landed since the read: this password is no longer the account's.
            raise InvalidCredentials("the email or password is incorrect")
        # The session opens on the condition of the hash now stored.
        user = dataclasses.replace(user, password_hash=rehashed)
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
    info = SessionInfo(
        session_id=record.session_id,
        created_at=now,
        last_used_at=now,
        expires_at=record.session_expires_at,
        user_agent=user_agent[:USER_AGENT_MAX_LENGTH],
        ip=ip,
    )
    try:
        sessions.create(
            record, now=now, account=user, session=info, clear_failures_of=normalised_email
        )
    except AccountChanged:
        raise InvalidCredentials("the email or password is incorrect") from None
    return grant_tokens(record, refresh_token, key=key, issuer=issuer, settings=settings, now=now)
