"""Sign up: the same answer after the same work for a new and a taken email.

Both paths hash the password, make one conditional write and queue one mail job: a
verification link for a new address (or for a never-verified account the write replaced,
under EMAIL_VERIFICATION=required), the "someone tried to sign up" notice for a taken one.
What the caller learns is the normalised email, either way.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from stateless_auth.config import Settings
from stateless_auth.domain import passwords
from stateless_auth.domain.accounts import User
from stateless_auth.domain.emails import normalise_email
from stateless_auth.domain.errors import EmailTaken
from stateless_auth.domain.mail import MailJob, MailKind
from stateless_auth.domain.ports import MailQueue, UserStore


def sign_up(
    email: str,
    password: str,
    *,
    users: UserStore,
    mail: MailQueue,
    settings: Settings,
    clock: Callable[[], float] = time.time,
) -> str:
    """The normalised email; WeakPassword or InvalidRequest for bad input (nothing
    changes), DependencyUnavailable if the mail job cannot be queued."""
    normalised_email = normalise_email(email)
    passwords.check_password_policy(
        password, min_length=settings.password_min_length, email=normalised_email
    )
    now = int(clock())
    required = settings.email_verification_required
    user = User(
        user_id=str(uuid.uuid4()),
        email=normalised_email,
        password_hash=passwords.hash_password(password),
        created_at=now,
        password_set_id=str(uuid.uuid4()),
        unverified_expires_at=now + settings.verify_email_ttl if required else 0,
    )
    try:
        users.create(user, replace_unverified=required)
        job = MailJob(MailKind.VERIFY_EMAIL, normalised_email, password_set_id=user.password_set_id)
    except EmailTaken:
        job = MailJob(MailKind.SIGNUP_ATTEMPT, normalised_email)
    # A new account whose job cannot be queued answers 503: signing up again replaces
    # it (required mode) or asks for the link again (POST /auth/verify-email/resend).
    mail.enqueue(job)
    return normalised_email
