"""The auth flows: signup, login, refresh, logout. Handlers call one function here.

Dependencies come in through the constructor (repositories, the signing key
provider, the clock), so unit tests run with fakes and no AWS.
"""

from __future__ import annotations

import math
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from stateless_auth import passwords
from stateless_auth.config import Settings
from stateless_auth.emails import normalise_email
from stateless_auth.errors import InvalidCredentials, InvalidToken, TooManyAttempts
from stateless_auth.keys import SigningKey
from stateless_auth.sessions import CURRENT, USED, RotationConflict, TokenRecord
from stateless_auth.tokens import (
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
)
from stateless_auth.users import FailedLogins, User


class UserStore(Protocol):
    def create(self, user: User) -> None: ...
    def get_by_email(self, email: str) -> User | None: ...
    def update_password_hash(self, email: str, password_hash: str) -> None: ...
    def load_for_login(self, email: str) -> tuple[User | None, FailedLogins]: ...
    def reserve_login_attempt(
        self,
        email: str,
        seen: FailedLogins,
        *,
        now: int,
        max_failures: int,
        lockout_seconds: int,
        keep_for: int,
    ) -> tuple[bool, FailedLogins]: ...
    def clear_failed_logins(self, email: str) -> None: ...


class SessionStore(Protocol):
    def create(
        self, first_token: TokenRecord, *, now: int, clear_failures_of: str | None = None
    ) -> None: ...
    def find_token(self, token_hash: str) -> TokenRecord | None: ...
    def rotate(self, old: TokenRecord, new_token_hash: str, *, now: int) -> TokenRecord: ...
    def revoke(self, session_id: str, *, now: int) -> None: ...


@dataclass(frozen=True)
class TokenGrant:
    """What a successful login or refresh hands back."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    user_id: str
    session_id: str


class RefreshRejected(InvalidToken):
    """A refresh token was refused; `reason` says why for the logs."""

    def __init__(self, reason: str, session_id: str | None = None) -> None:
        super().__init__("the refresh token is invalid, expired or revoked")
        self.reason = reason
        self.session_id = session_id


class LoginFailed(InvalidCredentials):
    """A failed login; `locked` says whether it started a lock-out (for logs and metrics)."""

    def __init__(self, locked: bool) -> None:
        super().__init__("the email or password is incorrect")
        self.locked = locked


# Consecutive failures are remembered this long after the last one (or the lock-out, if longer).
FAILURE_MEMORY_SECONDS = 24 * 3600


class AuthService:
    def __init__(
        self,
        settings: Settings,
        *,
        users: UserStore | None = None,
        sessions: SessionStore | None = None,
        signing_key: Callable[[], SigningKey] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._users = users
        self._sessions = sessions
        self._signing_key = signing_key
        self._clock = clock
        # A service that can log in (users and signing keys) verifies unknown emails
        # against a real argon2id hash, made here at start-up so that the first unknown
        # email costs no more than any other (equal-time failures).
        self._dummy_hash = (
            passwords.hash_password(secrets.token_urlsafe(16))
            if users is not None and signing_key is not None
            else ""
        )

    @property
    def users(self) -> UserStore:
        assert self._users is not None, "this function has no users repository"
        return self._users

    @property
    def sessions(self) -> SessionStore:
        assert self._sessions is not None, "this function has no sessions repository"
        return self._sessions

    def signup(self, email: str, password: str) -> User:
        """Create an account; WeakPassword, EmailTaken or InvalidRequest otherwise."""
        normalised_email = normalise_email(email)
        passwords.check_password_policy(
            password, min_length=self.settings.password_min_length, email=normalised_email
        )
        user = User(
            user_id=str(uuid.uuid4()),
            email=normalised_email,
            password_hash=passwords.hash_password(password),
            created_at=int(self._clock()),
        )
        self.users.create(user)
        return user

    def login(self, email: str, password: str, *, issuer: str) -> TokenGrant:
        """Check the password and open a session.

        InvalidCredentials for an unknown email or a wrong password (same answer, same
        work); TooManyAttempts while the email is locked out, even with the right password.
        Every attempt first reserves one of the failures left before the lock-out, with a
        conditional write, so concurrent attempts cannot check more passwords than that.
        """
        normalised_email = normalise_email(email)
        settings = self.settings
        # Before any write, so a key outage answers 503 and changes nothing (not even the
        # reservation below), and before the password check for every email alike.
        key = self._current_signing_key()
        user, failures = self.users.load_for_login(normalised_email)
        started = self._clock()
        now = int(started)
        self._refuse_if_locked(failures, started)
        reserved, failures = self.users.reserve_login_attempt(
            normalised_email,
            failures,
            now=now,
            max_failures=settings.max_failed_logins,
            lockout_seconds=settings.lockout_seconds,
            keep_for=max(settings.lockout_seconds, FAILURE_MEMORY_SECONDS),
        )
        if not reserved:
            self._refuse_if_locked(failures, started)
            raise TooManyAttempts("too many failed logins; try again later", 1)
        # An unknown email is checked against a dummy hash: the same work as a real check.
        matched = passwords.verify_password(
            user.password_hash if user else self._dummy_hash, password
        )
        if user is None or not matched:
            # The reservation already counted this failure.
            raise LoginFailed(failures.count >= settings.max_failed_logins)
        if passwords.needs_rehash(user.password_hash):
            self.users.update_password_hash(normalised_email, passwords.hash_password(password))
        now = int(self._clock())
        refresh_token = new_refresh_token()
        record = TokenRecord(
            token_hash=hash_refresh_token(refresh_token),
            session_id=str(uuid.uuid4()),
            user_id=user.user_id,
            email=user.email,
            roles=user.roles,
            state=CURRENT,
            session_expires_at=now + self.settings.refresh_token_ttl,
            email_verified=user.email_verified,
        )
        self.sessions.create(record, now=now, clear_failures_of=normalised_email)
        return self._grant(key, record, refresh_token, issuer=issuer, now=now)

    def _refuse_if_locked(self, failures: FailedLogins, now: float) -> None:
        settings = self.settings
        locked_for = failures.locked_for(
            now, max_failures=settings.max_failed_logins, lockout_seconds=settings.lockout_seconds
        )
        if locked_for > 0:
            retry_after = min(settings.lockout_seconds, math.ceil(locked_for))
            raise TooManyAttempts("too many failed logins; try again later", retry_after)

    def refresh(self, refresh_token: str, *, issuer: str) -> TokenGrant:
        """Rotate the refresh token; a replayed (already rotated) one revokes its session."""
        now = int(self._clock())
        record = self.sessions.find_token(hash_refresh_token(refresh_token))
        if record is None:
            raise RefreshRejected("unknown")
        if record.state == USED:
            self.sessions.revoke(record.session_id, now=now)
            raise RefreshRejected("reuse", record.session_id)
        if record.state != CURRENT:
            raise RefreshRejected("not_current", record.session_id)
        if record.session_expires_at <= now:
            raise RefreshRejected("expired", record.session_id)
        # Before rotating: a rotation whose new token cannot be handed out would turn the
        # client's next attempt into a replay and revoke its session.
        key = self._current_signing_key()
        new_token = new_refresh_token()
        try:
            new_record = self.sessions.rotate(record, hash_refresh_token(new_token), now=now)
        except RotationConflict:
            # Lost a race with a concurrent refresh of the same token, or the session
            # was revoked or expired meanwhile. The caller read it as current, so this
            # is not a replay: refuse without revoking the winner's session.
            raise RefreshRejected("conflict", record.session_id) from None
        return self._grant(key, new_record, new_token, issuer=issuer, now=now)

    def logout(self, refresh_token: str) -> str | None:
        """Revoke the token's session; the session id, or None for an unknown token."""
        record = self.sessions.find_token(hash_refresh_token(refresh_token))
        if record is None:
            return None
        self.sessions.revoke(record.session_id, now=int(self._clock()))
        return record.session_id

    def _current_signing_key(self) -> SigningKey:
        assert self._signing_key is not None, "this function cannot sign tokens"
        return self._signing_key()

    def _grant(
        self,
        key: SigningKey,
        record: TokenRecord,
        refresh_token: str,
        *,
        issuer: str,
        now: int,
    ) -> TokenGrant:
        access = issue_access_token(
            key,
            subject=record.user_id,
            email=record.email,
            roles=list(record.roles),
            issuer=issuer,
            audience=self.settings.jwt_audience,
            ttl=self.settings.access_token_ttl,
            session_id=record.session_id,
            email_verified=record.email_verified,
            now=now,
        )
        return TokenGrant(
            access_token=access.token,
            expires_in=access.expires_in,
            refresh_token=refresh_token,
            refresh_expires_in=max(0, record.session_expires_at - now),
            user_id=record.user_id,
            session_id=record.session_id,
        )
