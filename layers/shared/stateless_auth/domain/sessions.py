"""Sessions: one per login, carried by opaque refresh tokens that rotate on every use.

Each refresh token ever issued in a session has a record. It starts `current`; a
refresh retires it to `used` and makes its successor current, keeping the session's
absolute expiry. A `used` token presented again is a replay: the session is revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


@dataclass(frozen=True)
class TokenGrant:
    """What a successful login or refresh hands back."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    user_id: str
    session_id: str
