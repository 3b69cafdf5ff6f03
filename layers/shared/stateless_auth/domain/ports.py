"""What the use cases need from storage: the repositories, as Protocols.

`stateless_auth.storage` implements them on DynamoDB; the tests' fakes implement them
in memory with DynamoDB's conditional semantics.
"""

from __future__ import annotations

from typing import Protocol

from stateless_auth.domain.accounts import User
from stateless_auth.domain.lockout import FailedLogins
from stateless_auth.domain.sessions import TokenRecord


class UserStore(Protocol):
    def create(self, user: User) -> None:
        """Store a new user; EmailTaken if the email already has one."""
        ...

    def get_by_email(self, email: str) -> User | None: ...

    def update_password_hash(self, email: str, password_hash: str) -> None: ...

    def load_for_login(self, email: str) -> tuple[User | None, FailedLogins]:
        """The user (if any) and the email's failed-login record, read together."""
        ...

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
        """Count one attempt as a failure before its password is checked, atomically:
        whether it may go on, and the record as it now stands."""
        ...

    def clear_failed_logins(self, email: str) -> None: ...


class SessionStore(Protocol):
    def create(
        self, first_token: TokenRecord, *, now: int, clear_failures_of: str | None = None
    ) -> None:
        """A new session whose current token is `first_token` (clearing that email's
        failed logins in the same write when asked)."""
        ...

    def find_token(self, token_hash: str) -> TokenRecord | None: ...

    def rotate(self, old: TokenRecord, new_token_hash: str, *, now: int) -> TokenRecord:
        """Retire `old` and make `new_token_hash` current, atomically; RotationConflict
        when `old` is no longer current, its session revoked or expired."""
        ...

    def revoke(self, session_id: str, *, now: int) -> None: ...
