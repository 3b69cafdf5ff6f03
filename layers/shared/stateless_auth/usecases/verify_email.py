"""Verify an email with its link, and ask for a new link."""

from __future__ import annotations

import time
from collections.abc import Callable

from stateless_auth.domain.emails import normalise_email
from stateless_auth.domain.errors import InvalidOneTimeToken
from stateless_auth.domain.mail import MailJob, MailKind
from stateless_auth.domain.one_time_tokens import (
    OneTimeToken,
    Purpose,
    hash_one_time_token,
    well_formed,
)
from stateless_auth.domain.ports import MailQueue, UserStore

INVALID_LINK = "the link is invalid, used or expired; ask for a new one"


def find_link(token: str, purpose: Purpose, *, users: UserStore, now: int) -> OneTimeToken:
    """The stored token a link carries, if it is of `purpose` and unexpired; otherwise
    InvalidOneTimeToken (whether it is still the newest is checked by the write)."""
    if not well_formed(token):
        raise InvalidOneTimeToken(INVALID_LINK)
    found = users.find_one_time_token(hash_one_time_token(token))
    if found is None or found.purpose != purpose or found.expires_at <= now:
        raise InvalidOneTimeToken(INVALID_LINK)
    return found


def verify_email(
    token: str, *, users: UserStore, clock: Callable[[], float] = time.time
) -> OneTimeToken:
    """Mark the account's email verified; the token used (its user_id and email)."""
    now = int(clock())
    found = find_link(token, Purpose.VERIFY_EMAIL, users=users, now=now)
    users.mark_email_verified(found, now=now)
    return found


def resend_verification(email: str, *, mail: MailQueue) -> None:
    """Queue a new verification link; the mailer sends it only to a never-verified
    account, within the address's hourly limit. The same answer for every email."""
    mail.enqueue(MailJob(MailKind.VERIFY_EMAIL_RESEND, normalise_email(email)))
