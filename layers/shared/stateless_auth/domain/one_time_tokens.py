"""One-time tokens: the links of the email flows (verify an email, reset a password).

Opaque, 256 random bits, stored only as their SHA-256 hash (a database read yields no
working link), single use, expiring, and only the newest one issued per account and
purpose works: the account keeps one hash per purpose, which each new token replaces.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

TOKEN_BYTES = 32  # 256 bits
# What new_one_time_token makes is 43 characters; anything far from that shape is refused
# before it costs a database read.
_WELL_FORMED = re.compile(r"[A-Za-z0-9_-]{32,128}")


class Purpose(StrEnum):
    """What a one-time token may do."""

    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose, not a password


@dataclass(frozen=True)
class OneTimeToken:
    """What is stored of an issued token: its hash, never the token."""

    token_hash: str
    purpose: Purpose
    email: str
    user_id: str
    expires_at: int


def new_one_time_token() -> str:
    """An opaque token of 256 random bits (URL-safe: it travels in a link's fragment)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_one_time_token(token: str) -> str:
    """The SHA-256 hex digest under which a one-time token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def well_formed(token: str) -> bool:
    """Whether `token` could be one of ours (URL-safe characters, a sane length)."""
    return _WELL_FORMED.fullmatch(token) is not None
