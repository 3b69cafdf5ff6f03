"""Reading the mails the tests' senders recorded: their links and the tokens in them."""

from __future__ import annotations

import re

from stateless_auth.domain.mail import MailKind
from tests.support.settings import APP_URL

# A link's token travels in its fragment, never in a query string (CONTRACT §7).
_LINK = re.compile(r"(https?://\S+?)/(verify-email|reset-password)#token=([A-Za-z0-9_-]+)")
PAGES = {"verify_email": "verify-email", "reset_password": "reset-password"}


def links_in(text: str) -> list[tuple[str, str, str]]:
    """Every one-time link of a mail's text: (app URL, page, token)."""
    return [(m.group(1), m.group(2), m.group(3)) for m in _LINK.finditer(text)]


def token_in(text: str, purpose: str | None = None, *, app_url: str = APP_URL) -> str:
    """The one token a mail's text carries (of `purpose`, "verify_email" or
    "reset_password", if given), in a link under `app_url`; AssertionError otherwise."""
    found = [
        token
        for url, page, token in links_in(text)
        if url == app_url and (purpose is None or page == PAGES[purpose])
    ]
    assert len(found) == 1, f"expected one {purpose or 'one-time'} link in: {text!r}"
    return found[0]


def has_token(text: str) -> bool:
    return bool(links_in(text))


# What each kind of mail says it is about (its subject after "Stateless Auth: ").
EXPECTED_SUBJECTS = {
    MailKind.VERIFY_EMAIL: "verify your email",
    MailKind.VERIFY_EMAIL_RESEND: "verify your email",
    MailKind.SIGNUP_ATTEMPT: "someone tried to sign up with your address",
    MailKind.RESET_PASSWORD: "reset your password",
    MailKind.PASSWORD_CHANGED: "your password was changed",
    MailKind.ACCOUNT_DELETED: "your account was deleted",
    MailKind.MFA_ENABLED: "two-step verification is on",
    MailKind.MFA_DISABLED: "two-step verification is off",
    MailKind.RECOVERY_CODE_USED: "a recovery code was used",
    MailKind.RECOVERY_CODES_RENEWED: "new recovery codes",
}
