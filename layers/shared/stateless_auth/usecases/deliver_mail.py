"""The mailer's work for one queued job: decide, limit, issue the link, render, send.

Runs in the mailer function, never in the request that queued the job, so a request's
answer and timing do not depend on the account, the limit or the mail service.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from stateless_auth.config import Settings
from stateless_auth.domain.emails import ascii_address
from stateless_auth.domain.mail import RATE_LIMITED, MailJob, MailKind, Message, render
from stateless_auth.domain.one_time_tokens import (
    OneTimeToken,
    Purpose,
    hash_one_time_token,
    new_one_time_token,
)
from stateless_auth.domain.ports import MailLog, MailSender, UserStore


class Outcome(StrEnum):
    SENT = "sent"
    SUPPRESSED = "suppressed"  # over MAX_EMAILS_PER_HOUR for the address
    SKIPPED = "skipped"  # nothing to send: no account, already verified, superseded


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    reason: str = ""
    message_id: str = ""


def deliver(
    job: MailJob,
    *,
    users: UserStore,
    mail_log: MailLog,
    sender: MailSender,
    settings: Settings,
    clock: Callable[[], float] = time.time,
) -> Delivery:
    """Send what `job` calls for. MailSendFailed propagates, so the job is retried: a
    retry is not counted twice against the limit, and issues a new link (the newest one
    is the only one that works, so the unsent one is dead)."""
    app_url = settings.require("app_url")
    recipient = ascii_address(job.email)
    if recipient is None:
        return Delivery(Outcome.SKIPPED, "the address cannot be sent to in ASCII (SMTPUTF8)")
    now = int(clock())
    user = users.get_by_email(job.email)
    if user is not None and user.expired(now):
        user = None
    token = ""
    ttl = 0
    if job.kind in (MailKind.VERIFY_EMAIL, MailKind.VERIFY_EMAIL_RESEND):
        if user is None:
            return Delivery(Outcome.SKIPPED, "no account")
        if user.email_verified:
            return Delivery(Outcome.SKIPPED, "already verified")
        if job.kind is MailKind.VERIFY_EMAIL and job.password_set_id != user.password_set_id:
            return Delivery(Outcome.SKIPPED, "superseded by a later signup")
    elif job.kind in (MailKind.SIGNUP_ATTEMPT, MailKind.RESET_PASSWORD) and user is None:
        return Delivery(Outcome.SKIPPED, "no account")
    if job.kind in RATE_LIMITED and not mail_log.reserve_send(
        job.email, job.job_id, now=now, limit=settings.max_emails_per_hour
    ):
        return Delivery(Outcome.SUPPRESSED, "hourly limit for the address")
    if user is not None and job.kind in (
        MailKind.VERIFY_EMAIL,
        MailKind.VERIFY_EMAIL_RESEND,
        MailKind.RESET_PASSWORD,
    ):
        verifying = job.kind is not MailKind.RESET_PASSWORD
        purpose = Purpose.VERIFY_EMAIL if verifying else Purpose.RESET_PASSWORD
        ttl = settings.verify_email_ttl if verifying else settings.password_reset_ttl
        token = new_one_time_token()
        issued = users.issue_one_time_token(
            OneTimeToken(
                token_hash=hash_one_time_token(token),
                purpose=purpose,
                email=user.email,
                user_id=user.user_id,
                expires_at=now + ttl,
            ),
            password_set_id=user.password_set_id,
            require_unverified=verifying,
        )
        if not issued:
            return Delivery(Outcome.SKIPPED, "the account changed meanwhile")
    message: Message = render(
        job.kind, app_url=app_url, token=token, ttl_seconds=ttl, email=job.email
    )
    return Delivery(Outcome.SENT, message_id=sender.send(recipient, message))
