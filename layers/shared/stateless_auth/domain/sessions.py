"""Sessions: one per login, carried by opaque refresh tokens that rotate on every use.

Each refresh token ever issued in a session has a record. It starts `current`; a
refresh retires it to `used` and makes its successor current, keeping the session's
absolute expiry. A `used` token presented again is a replay: the session is revoked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

# The live sessions an account keeps: a login beyond this many ends the least recently
# used one (the account item lists them all, and an item holds at most 400 KB).
MAX_SESSIONS_PER_ACCOUNT = 100
USER_AGENT_MAX_LENGTH = 256


class TokenState(StrEnum):
    """The states of a refresh token's record."""

    CURRENT = "current"  # the session's one token that may be refreshed
    USED = "used"  # rotated away: presenting it again revokes the session


class RotationConflict(Exception):
    """The token was rotated, revoked or expired between reading and writing it."""


class AccountChanged(RotationConflict):
    """The account moved on since the session's record was written: gone, a reset ended
    its sessions (a new epoch), or its claims (email_verified) changed."""


@dataclass(frozen=True)
class TokenRecord:
    """What the sessions store knows about one refresh token."""

    token_hash: str
    session_id: str
    user_id: str
    email: str
    roles: tuple[str, ...]
    state: str
    session_expires_at: int
    email_verified: bool = False
    # The account's sessions epoch when the session opened: a later one ends it.
    sessions_epoch: int = 0
    # How the session was opened (RFC 8176): every token of the session carries it.
    amr: tuple[str, ...] = ("pwd",)


@dataclass(frozen=True)
class TokenGrant:
    """What a successful login or refresh hands back."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    user_id: str
    session_id: str


@dataclass(frozen=True)
class SessionInfo:
    """What an account lists of one of its sessions (GET /auth/sessions). A session can
    refresh only while its account lists it: ending a session is removing it there."""

    session_id: str
    created_at: int
    last_used_at: int
    expires_at: int
    user_agent: str
    ip: str


def sessions_to_end(
    sessions: Iterable[SessionInfo], *, now: int, keep: int = MAX_SESSIONS_PER_ACCOUNT - 1
) -> list[str]:
    """The listed sessions a new login removes: the expired ones, then the least recently
    used beyond `keep`, so that the new one makes at most MAX_SESSIONS_PER_ACCOUNT."""
    live = sorted(
        (s for s in sessions if s.expires_at > now),
        key=lambda s: (s.last_used_at, s.created_at),
        reverse=True,
    )
    ended = [s.session_id for s in sessions if s.expires_at <= now]
    return ended + [s.session_id for s in live[keep:]]


def listed(sessions: Iterable[SessionInfo], *, now: int) -> list[SessionInfo]:
    """The sessions that can still refresh, newest first."""
    return sorted(
        (s for s in sessions if s.expires_at > now),
        key=lambda s: (s.created_at, s.session_id),
        reverse=True,
    )
