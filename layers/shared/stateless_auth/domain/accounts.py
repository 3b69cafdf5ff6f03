"""Accounts: one user per normalised email."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_ROLES = ("user",)


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    password_hash: str
    created_at: int
    roles: tuple[str, ...] = field(default=DEFAULT_ROLES)
    # False until email verification exists: tokens must never present an unproven email.
    email_verified: bool = False
