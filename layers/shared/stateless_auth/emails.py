"""Email normalisation: one account per trimmed, NFKC-normalised, lower-cased address."""

from __future__ import annotations

import unicodedata

from stateless_auth.errors import InvalidRequest

MAX_EMAIL_LENGTH = 254


def normalise_email(raw: str) -> str:
    """The canonical form of an email address, or InvalidRequest if it is not one."""
    email = unicodedata.normalize("NFKC", raw.strip()).lower()
    local, sep, domain = email.rpartition("@")
    if (
        not sep
        or not local
        or not domain
        or len(email) > MAX_EMAIL_LENGTH
        or any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in email)
        or "." not in domain
        or domain.startswith(".")
        or domain.endswith(".")
    ):
        raise InvalidRequest("'email' is not a valid email address")
    return email
