"""Log in: check the password under the lock-out rule and open a session."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
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
from stateless_auth.domain.factors import AMR_PASSWORD, FactorUse, SpentMfaToken, amr_for
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
from stateless_auth.tokens.mfa_tokens import MfaChallenge, MfaPurpose, MfaToken, issue_mfa_token
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
    delivery: str = "cookie",
    clock: Callable[[], float] = time.time,
) -> TokenGrant | MfaToken:
    """Check the password (`check_password`: its errors and lock-out) and open a
    session, listed on the account with the client's `user_agent` and `ip`.

    EmailNotVerified for the right password of an unverified account under
    EMAIL_VERIFICATION=required (only after the password matched, so it reveals nothing
    to someone without it). An account with a second factor gets an mfa_token instead
    of a session (purpose verify: POST /auth/mfa/verify continues with a code), and so
    does one without under MFA=required (purpose enroll: it must set one up first).
    Neither clears the failure count (only the whole login does), but the right
    password is not counted as a failure: its reservation is taken back.
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
    # The mfa_token of this login, for the account as read (or read again, below).
    second_factor_due = functools.partial(
        _second_factor_due,
        password=password,
        users=users,
        key=key,
        issuer=issuer,
        settings=settings,
        delivery=delivery,
        clock=clock,
    )
    if user.mfa_enabled or settings.mfa_required:
        return second_factor_due(user)
    try:
        return open_session(
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
    except InvalidCredentials:
        # The account changed since the read. If the change was a second factor turned on
        # (a confirm racing this login), the password is still right: the login goes on
        # to the factor, as it would have a moment later; anything else is refused.
        fresh = users.get_by_email(normalised_email)
        if (
            fresh is None
            or not fresh.mfa_enabled
            or (
                fresh.user_id,
                fresh.password_set_id,
                fresh.sessions_epoch,
            )
            != (user.user_id, user.password_set_id, user.sessions_epoch)
        ):
            raise
        return second_factor_due(fresh)
    except DependencyUnavailable:
        # The password was right: a store that failed afterwards must not leave the
        # reserved attempt counted, or a user retrying through a brownout, as Retry-After
        # asks, would lock themselves out. Best effort: the 503 stands either way.
        with contextlib.suppress(DependencyUnavailable):
            users.clear_failed_logins(normalised_email)
        raise


def _second_factor_due(
    user: User,
    password: str,
    *,
    users: UserStore,
    key: SigningKey,
    issuer: str,
    settings: Settings,
    delivery: str,
    clock: Callable[[], float],
) -> MfaToken:
    user = _rehashed(user, password, users=users)
    purpose = MfaPurpose.VERIFY if user.mfa_enabled else MfaPurpose.ENROLL
    token = issue_mfa_token(
        key,
        MfaChallenge(
            user_id=user.user_id,
            email=user.email,
            purpose=purpose,
            password_set_id=user.password_set_id,
            sessions_epoch=user.sessions_epoch,
            delivery=delivery,
        ),
        issuer=issuer,
        audience=settings.jwt_audience,
        now=clock(),
    )
    # Best effort: were it lost, the attempt stays counted, which errs on the safe side.
    with contextlib.suppress(DependencyUnavailable):
        users.release_login_attempt(user.email)
    return token


def _rehashed(user: User, password: str, *, users: UserStore) -> User:
    """`user` with its password hash brought to the current parameters (the login has
    the password in hand); InvalidCredentials if a reset replaced it meanwhile."""
    if not passwords.needs_rehash(user.password_hash):
        return user
    rehashed = passwords.hash_password(password)
    if not users.update_password_hash(user.email, rehashed, replaces=user.password_hash):
        # A reset landed since the read: this password is no longer the account's.
        raise InvalidCredentials("the email or password is incorrect")
    return dataclasses.replace(user, password_hash=rehashed)


def open_session(
    user: User,
    password: str | None,
    *,
    user_agent: str,
    ip: str,
    users: UserStore,
    sessions: SessionStore,
    key: SigningKey,
    issuer: str,
    settings: Settings,
    clock: Callable[[], float],
    factor: FactorUse | None = None,
    spends: SpentMfaToken | None = None,
) -> TokenGrant:
    """A new session for `user` as read, and its tokens: with the password in hand (a
    login), its hash is first brought to the current parameters; with a second factor
    (`factor`, from POST /auth/mfa/verify), the session's write accepts it too, and the
    session's `amr` says which. InvalidCredentials if the account changed since the
    read, or the factor can no longer be accepted (used meanwhile)."""
    normalised_email = user.email
    if password is not None:
        user = _rehashed(user, password, users=users)
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
        amr=AMR_PASSWORD if factor is None else amr_for(factor),
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
            record,
            now=now,
            account=user,
            session=info,
            clear_failures_of=normalised_email,
            factor=factor,
            spends=spends,
        )
    except AccountChanged:
        raise InvalidCredentials("the email or password is incorrect") from None
    return grant_tokens(record, refresh_token, key=key, issuer=issuer, settings=settings, now=now)
