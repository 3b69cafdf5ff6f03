"""Email normalisation: one account per trimmed, NFKC-normalised, lower-cased address,
its domain IDNA-normalised.

Syntax is checked by email-validator after normalisation (no DNS lookups). Look-alike
characters from other scripts are not folded: `ann@example.com` spelt with a Cyrillic `a`
is a different address, so it can never reach Ann's account.
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from stateless_auth.domain.errors import InvalidRequest

MAX_EMAIL_LENGTH = 254


def normalise_email(raw: str) -> str:
    """The canonical form of an email address, or InvalidRequest if it is not one."""
    email = unicodedata.normalize("NFKC", raw.strip()).lower()
    if len(email) > MAX_EMAIL_LENGTH or any(unicodedata.category(ch)[0] in "CZ" for ch in email):
        raise InvalidRequest("'email' is not a valid email address")
    try:
        checked = validate_email(email, check_deliverability=False, allow_quoted_local=False)
    except EmailNotValidError as exc:
        raise InvalidRequest(f"'email' is not a valid email address: {exc}") from None
    # email-validator's normalised form has the domain IDNA-normalised (in Unicode), so
    # ann@exämple.com and ann@xn--exmple-cua.com are one address.
    return str(checked.normalized)


def ascii_address(email: str) -> str | None:
    """The address as mail servers take it, its domain in Punycode (SES accepts 7-bit
    ASCII only); None when the local part itself is not ASCII (it would need SMTPUTF8)."""
    try:
        checked = validate_email(email, check_deliverability=False, allow_quoted_local=False)
    except EmailNotValidError:
        return None
    return None if checked.ascii_email is None else str(checked.ascii_email)
