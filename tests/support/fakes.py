"""In-memory stand-ins for the repositories, with DynamoDB's conditional semantics, and the
use cases bound to them.

Each store holds one lock around every check-and-write, as DynamoDB is atomic per item
(and a transaction across its items). Where the repositories' conditional writes fail,
the fakes raise the same botocore errors; `tests/contract/` runs one suite against both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from botocore.exceptions import ClientError

from stateless_auth.config import Settings
from stateless_auth.domain import passwords
from stateless_auth.domain.accounts import User
from stateless_auth.domain.errors import EmailTaken
from stateless_auth.domain.lockout import FailedLogins
from stateless_auth.domain.sessions import RotationConflict, TokenGrant, TokenRecord, TokenState
from stateless_auth.tokens.keys import SigningKey
from stateless_auth.usecases.login import log_in
from stateless_auth.usecases.logout import log_out
from stateless_auth.usecases.refresh import refresh
from stateless_auth.usecases.signup import sign_up


def _refused(code: str, operation: str) -> ClientError:
    """The error boto3 raises when DynamoDB refuses a conditional write."""
    return ClientError({"Error": {"Code": code, "Message": "condition failed"}}, operation)


class FakeUsers:
    """The users repository: users by normalised email, failed logins by email."""

    def __init__(self) -> None:
        self.items: dict[str, User] = {}
        self.failures: dict[str, FailedLogins] = {}
        self.reservations = 0
        self._lock = threading.Lock()

    def create(self, user: User) -> None:
        with self._lock:
            if user.email in self.items:
                raise EmailTaken("an account with this email already exists")
            self.items[user.email] = user

    def get_by_email(self, email: str) -> User | None:
        with self._lock:
            return self.items.get(email)

    def update_password_hash(self, email: str, password_hash: str) -> None:
        # The repository's `attribute_exists(user_id)`: never creates a user.
        with self._lock:
            if email not in self.items:
                raise _refused("ConditionalCheckFailedException", "UpdateItem")
            self.items[email] = replace(self.items[email], password_hash=password_hash)

    def load_for_login(self, email: str) -> tuple[User | None, FailedLogins]:
        with self._lock:
            return self.items.get(email), self.failures.get(email, FailedLogins())

    def reserve_login_attempt(
        self,
        email: str,
        seen: FailedLogins,
        *,
        now: int,
        max_failures: int,
        lockout_seconds: int,
        keep_for: int,
    ) -> tuple[bool, FailedLogins]:
        # The repository's conditional write, checked and applied under one lock as
        # DynamoDB does per item: a slot below max_failures, or a restart once a lock ended.
        with self._lock:
            current = self.failures.get(email, FailedLogins())
            if current.count < max_failures:
                counted = FailedLogins(current.count + 1, now)
            elif (
                current.locked_for(now, max_failures=max_failures, lockout_seconds=lockout_seconds)
                <= 0
            ):
                counted = FailedLogins(1, now)
            else:
                return False, current
            self.failures[email] = counted
            self.reservations += 1
            return True, counted

    def clear_failed_logins(self, email: str) -> None:
        with self._lock:
            self.failures.pop(email, None)


class FakeSessions:
    """The sessions repository: sessions (current token, expiry, revocation) and tokens."""

    def __init__(self, users: FakeUsers | None = None) -> None:
        self.users = users
        self.tokens: dict[str, TokenRecord] = {}
        self.current: dict[str, str] = {}  # one entry per session: its current token's hash
        self.expires: dict[str, int] = {}
        self.revoked: set[str] = set()
        self._lock = threading.Lock()

    def create(
        self, first_token: TokenRecord, *, now: int, clear_failures_of: str | None = None
    ) -> None:
        # One transaction: both puts are conditional, and nothing is written (the
        # failure count is not cleared either) unless every condition holds.
        if clear_failures_of is not None and self.users is None:
            raise ValueError("this repository has no users table to clear failures in")
        with self._lock:
            sid = first_token.session_id
            if sid in self.current or first_token.token_hash in self.tokens:
                raise _refused("TransactionCanceledException", "TransactWriteItems")
            if clear_failures_of is not None:
                assert self.users is not None
                self.users.clear_failed_logins(clear_failures_of)
            self.tokens[first_token.token_hash] = first_token
            self.current[sid] = first_token.token_hash
            self.expires[sid] = first_token.session_expires_at

    def find_token(self, token_hash: str) -> TokenRecord | None:
        with self._lock:
            return self.tokens.get(token_hash)

    def rotate(self, old: TokenRecord, new_token_hash: str, *, now: int) -> TokenRecord:
        # The repository's transaction: the old token still current and unexpired, the
        # new one new, the session still pointing at the old one, not revoked, unexpired.
        # The new token's claims and expiry come from `old`, as the repository writes them.
        with self._lock:
            stored = self.tokens.get(old.token_hash)
            sid = old.session_id
            if (
                stored is None
                or stored.state != TokenState.CURRENT
                or stored.session_expires_at <= now
                or new_token_hash in self.tokens
                or self.current.get(sid) != old.token_hash
                or sid in self.revoked
                or self.expires[sid] <= now
            ):
                raise RotationConflict(sid)
            new = replace(old, token_hash=new_token_hash, state=TokenState.CURRENT)
            self.tokens[old.token_hash] = replace(stored, state=TokenState.USED)
            self.tokens[new_token_hash] = new
            self.current[sid] = new_token_hash
            return new

    def revoke(self, session_id: str, *, now: int) -> None:
        # The repository's `attribute_exists(pk)`: an unknown session is left unwritten.
        with self._lock:
            if session_id in self.current:
                self.revoked.add(session_id)


@dataclass
class Flows:
    """The use cases bound to one set of dependencies, as a handler module binds them."""

    settings: Settings
    users: FakeUsers
    sessions: FakeSessions
    signing_key: Callable[[], SigningKey]
    clock: Callable[[], float] = time.time
    # As the login function makes it at start-up.
    unknown_email_hash: str = field(default_factory=passwords.unusable_hash)

    def signup(self, email: str, password: str) -> User:
        return sign_up(email, password, users=self.users, settings=self.settings, clock=self.clock)

    def login(self, email: str, password: str, *, issuer: str) -> TokenGrant:
        return log_in(
            email,
            password,
            users=self.users,
            sessions=self.sessions,
            signing_key=self.signing_key,
            issuer=issuer,
            settings=self.settings,
            unknown_email_hash=self.unknown_email_hash,
            clock=self.clock,
        )

    def refresh(self, refresh_token: str, *, issuer: str) -> TokenGrant:
        return refresh(
            refresh_token,
            sessions=self.sessions,
            signing_key=self.signing_key,
            issuer=issuer,
            settings=self.settings,
            clock=self.clock,
        )

    def logout(self, refresh_token: str) -> str | None:
        return log_out(refresh_token, sessions=self.sessions, clock=self.clock)
