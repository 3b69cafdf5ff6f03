"""Notices of a change already made (password changed, account deleted): queued after the
change committed, so a queue that fails then loses the notice only, never the change.
The caller logs and counts the loss (EmailFailed); the answer stands."""

from __future__ import annotations

from stateless_auth.domain.errors import DependencyUnavailable
from stateless_auth.domain.mail import MailJob, MailKind
from stateless_auth.domain.ports import MailQueue


def queue_notice(mail: MailQueue, kind: MailKind, email: str) -> bool:
    """Queue the notice; whether it was queued."""
    try:
        mail.enqueue(MailJob(kind, email))
    except DependencyUnavailable:
        return False
    return True
