"""Opening a session as login does: with the account as login read it, listed there with
its agent and address (SessionStore.create)."""

from __future__ import annotations

from dataclasses import dataclass

from stateless_auth.domain.accounts import User
from stateless_auth.domain.ports import SessionStore, UserStore
from stateless_auth.domain.sessions import SessionInfo, TokenRecord

NOW = 1_700_000_000


@dataclass
class Opener:
    """``open_session(record)``: `record`'s session opened on the account as read now
    (or `account`, a read made earlier); its list entry, as written."""

    users: UserStore
    sessions: SessionStore

    def __call__(
        self,
        record: TokenRecord,
        *,
        now: int = NOW,
        account: User | None = None,
        clear_failures_of: str | None = None,
        user_agent: str = "",
        ip: str = "",
    ) -> SessionInfo:
        if account is None:
            account = self.read(record)
        info = SessionInfo(
            session_id=record.session_id,
            created_at=now,
            last_used_at=now,
            expires_at=record.session_expires_at,
            user_agent=user_agent,
            ip=ip,
        )
        self.sessions.create(
            record, now=now, account=account, session=info, clear_failures_of=clear_failures_of
        )
        return info

    def read(self, record: TokenRecord) -> User:
        """The account as login reads it for `record`; where the email has no account of
        its user, the account such a login would have read (since gone or replaced)."""
        read = self.users.get_by_email(record.email)
        if read is not None and read.user_id == record.user_id:
            return read
        return User(record.user_id, record.email, "$argon2id$x", 1)
