"""Sign up: create an account for a new (normalised) email."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from stateless_auth.config import Settings
from stateless_auth.domain import passwords
from stateless_auth.domain.accounts import User
from stateless_auth.domain.emails import normalise_email
from stateless_auth.domain.ports import UserStore


def sign_up(
    email: str,
    password: str,
    *,
    users: UserStore,
    settings: Settings,
    clock: Callable[[], float] = time.time,
) -> User:
    """The new account; WeakPassword, EmailTaken or InvalidRequest otherwise."""
    normalised_email = normalise_email(email)
    passwords.check_password_policy(
        password, min_length=settings.password_min_length, email=normalised_email
    )
    user = User(
        user_id=str(uuid.uuid4()),
        email=normalised_email,
        password_hash=passwords.hash_password(password),
        created_at=int(clock()),
    )
    users.create(user)
    return user
