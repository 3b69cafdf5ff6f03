"""Password policy and argon2id hashing (NIST SP 800-63B-4, OWASP Password Storage)."""

from __future__ import annotations

import unicodedata

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from stateless_auth.domain.breached import is_breached
from stateless_auth.domain.errors import WeakPassword

MAX_PASSWORD_LENGTH = 128
# OWASP Password Storage: argon2id with m=19 MiB, t=2, p=1: about 18 ms on one x86 core
# here; the login and signup functions get enough memory (CPU) to stay under ~100 ms.
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, type=Type.ID)


def normalise_password(password: str) -> str:
    """NFKC form, so that the same password typed on any keyboard hashes the same."""
    return unicodedata.normalize("NFKC", password)


def check_password_policy(password: str, *, min_length: int, email: str = "") -> str:
    """The normalised password if it meets the policy, else WeakPassword saying which rule.

    NIST SP 800-63B-4: a length floor and ceiling counted after NFKC, no composition
    rules, and no password from a list of common or breached ones or from the context
    (here the email and its local part).
    """
    normalised = normalise_password(password)
    if len(normalised) < min_length:
        raise WeakPassword(f"the password must be at least {min_length} characters long")
    if len(normalised) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must be at most {MAX_PASSWORD_LENGTH} characters long")
    folded = normalised.lower()
    if email and folded in (email.lower(), email.lower().rpartition("@")[0]):
        raise WeakPassword("the password must not be the email address or its local part")
    if is_breached(folded):
        raise WeakPassword(
            "the password is on a list of common or breached passwords; choose another"
        )
    return normalised


def hash_password(password: str) -> str:
    """An argon2id PHC string of the normalised password."""
    return HASHER.hash(normalise_password(password))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches; False (never an exception) for a malformed hash."""
    try:
        return HASHER.verify(password_hash, normalise_password(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the stored hash was made with weaker parameters than HASHER's."""
    try:
        return HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


# An argon2id hash, with HASHER's parameters, of a random password that was thrown away:
# what a login checks the password of an unknown email against, so that it does the same
# work as for a known one. A constant rather than made at start-up, which cost login's
# cold start a whole hash; it need not be secret (an unknown email fails whatever
# matches), and a test holds that it has HASHER's parameters (change them: regenerate it).
UNKNOWN_EMAIL_HASH = "$argon2id$v=19$m=19456,t=2,p=1$Zq/cy716Dti6NHWbvrJCeg$xEPnb7MQKuj32W5O5NSZlYLB//quydDscetsF659Mks"


def unusable_hash() -> str:
    """The hash an unknown email's password is checked against (UNKNOWN_EMAIL_HASH)."""
    return UNKNOWN_EMAIL_HASH
