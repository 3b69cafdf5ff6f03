"""Refresh tokens: opaque, 256 random bits, stored only as their SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets

REFRESH_TOKEN_BYTES = 32  # 256 bits


def new_refresh_token() -> str:
    """An opaque refresh token of 256 random bits."""
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def hash_refresh_token(token: str) -> str:
    """The SHA-256 hex digest under which a refresh token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
