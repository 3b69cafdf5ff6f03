"""The service's emails: the jobs a request queues and the texts the mailer sends.

A request that triggers an email only queues a small job (kind, address, a job id; never
a token, a password or a hash) and answers; the mailer looks the account up, applies
the per-address limit, issues any one-time token and sends (CONTRACT §7). Every text
lives here, in plain text, with its links carrying the token in the URL fragment
(`#token=`), which browsers never send to a server nor put in a Referer.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SERVICE_NAME = "Stateless Auth"
MAX_JOB_BYTES = 2048


class MailKind(StrEnum):
    VERIFY_EMAIL = "verify_email"  # after a signup: bound to the password it set
    VERIFY_EMAIL_RESEND = "verify_email_resend"  # asked again: the current password
    SIGNUP_ATTEMPT = "signup_attempt"  # someone signed up with a taken address
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a kind of mail
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a kind of mail
    ACCOUNT_DELETED = "account_deleted"
    MFA_ENABLED = "mfa_enabled"
    MFA_DISABLED = "mfa_disabled"
    RECOVERY_CODE_USED = "recovery_code_used"
    RECOVERY_CODES_RENEWED = "recovery_codes_renewed"


# Mails anyone who knows an address can trigger: MAX_EMAILS_PER_HOUR applies to these.
# The notices of a change made with the account's credentials or a valid link are
# always sent.
RATE_LIMITED = frozenset(
    {
        MailKind.VERIFY_EMAIL,
        MailKind.VERIFY_EMAIL_RESEND,
        MailKind.SIGNUP_ATTEMPT,
        MailKind.RESET_PASSWORD,
    }
)


class MalformedJob(ValueError):
    """A queued message that is not one of our jobs (dropped, never retried)."""


@dataclass(frozen=True)
class MailJob:
    """One queued email: what happened, to whom. The mailer decides the rest."""

    kind: MailKind
    email: str
    # The password the verification link may verify (MailKind.VERIFY_EMAIL only).
    password_set_id: str = ""
    job_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_json(self) -> str:
        body: dict[str, str] = {"kind": self.kind, "email": self.email, "job_id": self.job_id}
        if self.password_set_id:
            body["password_set_id"] = self.password_set_id
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> MailJob:
        if len(text) > MAX_JOB_BYTES:
            raise MalformedJob("mail job too large")
        try:
            body: Any = json.loads(text)
        except ValueError:
            raise MalformedJob("mail job is not JSON") from None
        if not isinstance(body, dict):
            raise MalformedJob("mail job is not an object")
        kind, email, job_id = body.get("kind"), body.get("email"), body.get("job_id")
        password_set_id = body.get("password_set_id", "")
        if not isinstance(kind, str) or kind not in set(MailKind):
            raise MalformedJob("mail job has no known kind")
        if not isinstance(email, str) or "@" not in email:
            raise MalformedJob("mail job has no known kind or no address")
        if not isinstance(job_id, str) or not job_id or not isinstance(password_set_id, str):
            raise MalformedJob("mail job has no id")
        return cls(MailKind(kind), email, password_set_id=password_set_id, job_id=job_id)


@dataclass(frozen=True)
class Message:
    """A rendered email."""

    subject: str
    text: str


def verification_link(app_url: str, token: str) -> str:
    return f"{app_url}/verify-email#token={token}"


def reset_link(app_url: str, token: str) -> str:
    return f"{app_url}/reset-password#token={token}"


_NOT_YOU = "If this was not you, you can ignore this email"


def render(
    kind: MailKind, *, app_url: str, token: str = "", ttl_seconds: int = 0, email: str = ""
) -> Message:
    """The subject and plain text of one kind of email (`token` for the two with links)."""
    hours = _duration(ttl_seconds)
    if kind in (MailKind.VERIFY_EMAIL, MailKind.VERIFY_EMAIL_RESEND):
        return Message(
            f"{SERVICE_NAME}: verify your email",
            f"Someone signed up for {SERVICE_NAME} with {email}.\n\n"
            f"If it was you, open this link within {hours} to verify that the address is"
            " yours (only for a signup you made yourself: it verifies the password chosen"
            " at the latest signup):\n\n"
            f"{verification_link(app_url, token)}\n\n"
            f"{_NOT_YOU}: without verification the account cannot be used and goes away.\n",
        )
    if kind is MailKind.SIGNUP_ATTEMPT:
        return Message(
            f"{SERVICE_NAME}: someone tried to sign up with your address",
            f"Someone tried to sign up for {SERVICE_NAME} with {email}, which already has"
            " an account. Nothing was changed.\n\n"
            f"If it was you: log in, or reset your password at {app_url}/reset-password"
            " if you have forgotten it.\n\n"
            f"{_NOT_YOU}; your account and password are unchanged.\n",
        )
    if kind is MailKind.RESET_PASSWORD:
        return Message(
            f"{SERVICE_NAME}: reset your password",
            f"Someone asked to reset the password of the {SERVICE_NAME} account {email}.\n\n"
            f"To choose a new password, open this link within {hours}:\n\n"
            f"{reset_link(app_url, token)}\n\n"
            "Setting a new password logs the account out everywhere.\n\n"
            f"{_NOT_YOU}; your password is unchanged and the link expires by itself.\n",
        )
    if kind is MailKind.PASSWORD_CHANGED:
        return Message(
            f"{SERVICE_NAME}: your password was changed",
            f"The password of the {SERVICE_NAME} account {email} was just changed, and"
            " sessions were logged out.\n\n"
            "If this was not you, reset your password now at"
            f" {app_url}/reset-password and check the email account itself: someone"
            " may have access to it.\n",
        )
    if kind is MailKind.ACCOUNT_DELETED:
        return Message(
            f"{SERVICE_NAME}: your account was deleted",
            f"The {SERVICE_NAME} account {email} was deleted, with all its sessions.\n\n"
            "If this was not you, someone knew your password: sign up again to take the"
            " address back, and change that password wherever else you use it.\n",
        )
    second_factor = _SECOND_FACTOR_NOTICES.get(kind)
    if second_factor is not None:
        subject, what = second_factor
        return Message(
            f"{SERVICE_NAME}: {subject}",
            f"{what.format(account=email)}\n\n"
            "If this was not you, someone knows your password and had your authenticator"
            f" or a recovery code: reset your password now at {app_url}/reset-password,"
            " then log in and check two-step verification.\n",
        )
    raise ValueError(f"no template for {kind!r}")


# Second-factor notices: (subject, what happened). Sent whatever the hourly limit.
_SECOND_FACTOR_NOTICES = {
    MailKind.MFA_ENABLED: (
        "two-step verification is on",
        f"Two-step verification was turned on for the {SERVICE_NAME} account {{account}}:"
        " logging in now takes a code from the authenticator app as well as the password."
        " Keep the recovery codes you were shown somewhere safe.",
    ),
    MailKind.MFA_DISABLED: (
        "two-step verification is off",
        f"Two-step verification was turned off for the {SERVICE_NAME} account {{account}},"
        " and its other sessions were logged out. Logging in now takes the password alone.",
    ),
    MailKind.RECOVERY_CODE_USED: (
        "a recovery code was used",
        f"A recovery code was just used to log in to the {SERVICE_NAME} account"
        " {account}. It cannot be used again. If you have lost your authenticator, turn"
        " two-step verification off and on again to set up a new one.",
    ),
    MailKind.RECOVERY_CODES_RENEWED: (
        "new recovery codes",
        f"New recovery codes were made for the {SERVICE_NAME} account {{account}}; the"
        " earlier ones no longer work.",
    ),
}


def _duration(seconds: int) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
