"""Forgotten passwords: ask for a reset link, and set a new password with it.

Asking queues one job whatever the email, so the answer and its timing say nothing of
the account; the mailer sends the link. A reset never logs anyone in: it ends every
session (a new sessions epoch), clears the failed logins and sends a notice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from stateless_auth.config import Settings
from stateless_auth.domain import passwords
from stateless_auth.domain.emails import normalise_email
from stateless_auth.domain.mail import MailJob, MailKind
from stateless_auth.domain.one_time_tokens import OneTimeToken, Purpose
from stateless_auth.domain.ports import MailQueue, UserStore
from stateless_auth.usecases.notices import queue_notice
from stateless_auth.usecases.verify_email import find_link


def forgot_password(email: str, *, mail: MailQueue) -> None:
    """Queue a reset link for the email (sent only if it has an account)."""
    mail.enqueue(MailJob(MailKind.RESET_PASSWORD, normalise_email(email)))


def reset_password(
    token: str,
    password: str,
    *,
    users: UserStore,
    mail: MailQueue,
    settings: Settings,
    clock: Callable[[], float] = time.time,
) -> tuple[OneTimeToken, bool]:
    """Set the new password; the token used and whether the notice was queued.

    InvalidOneTimeToken for a bad link; WeakPassword leaves the link usable (checked
    before any write). The password is changed once the write succeeds: a queue that
    then fails loses the notice only (the caller logs it), not the change.
    """
    now = int(clock())
    found = find_link(token, Purpose.RESET_PASSWORD, users=users, now=now)
    passwords.check_password_policy(
        password, min_length=settings.password_min_length, email=found.email
    )
    users.reset_password(
        found,
        password_hash=passwords.hash_password(password),
        password_set_id=str(uuid.uuid4()),
        now=int(clock()),
    )
    return found, queue_notice(mail, MailKind.PASSWORD_CHANGED, found.email)
