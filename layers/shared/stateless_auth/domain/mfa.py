"""The second factor: TOTP codes (RFC 6238) and recovery codes, and what a check of
them is (`domain/factors.py` holds what a session records of how it was opened).

TOTP is pyotp's (SHA-1, 6 digits, 30 s steps, a 160-bit base32 secret, as every
authenticator app expects). What is ours is which time step a code may use: one within
a step of the clock, and later than the last step the account accepted, so a code works
once (RFC 6238 §5.2, NIST SP 800-63B-4 §5.1.4.2). The storage write that accepts a code
records its step in the same conditional write, so two concurrent uses of one code
cannot both pass.

Recovery codes are look-up secrets: 20 base32 characters, `abcd-efgh-ijkl-mnop-qrst`.
The first group is a public id (so a check hashes one stored hash, not ten) and the
other sixteen characters are 80 random bits. Only argon2id hashes of whole codes are
stored; a use removes its hash in a conditional write.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

TOTP_DIGITS = 6
TOTP_PERIOD = 30
# Codes of the step before and after the clock's are accepted too (clock skew, a code
# typed as its step ends).
TOTP_SKEW_STEPS = 1
TOTP_SECRET_CHARS = 32  # base32: 160 bits (RFC 4226 §4 recommends 160)
PENDING_ENROLLMENT_SECONDS = 600

RECOVERY_CODE_COUNT = 10
RECOVERY_ID_CHARS = 4
RECOVERY_SECRET_CHARS = 16  # 80 bits
RECOVERY_GROUP = 4
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
MAX_CODE_INPUT = 64  # longer input is no code of ours (and is not worth hashing)

# The codes carry 80 random bits, so the hash's cost is not what protects them (NIST SP
# 800-63B-4 §5.1.2.2 asks for a salted one-way function); a lighter argon2id than the
# passwords' keeps issuing ten of them well under a second.
_RECOVERY_HASHER = PasswordHasher(
    time_cost=1, memory_cost=8192, parallelism=1, hash_len=32, type=Type.ID
)

# -- TOTP ---------------------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32(length=TOTP_SECRET_CHARS)


def provisioning_uri(secret: str, *, account: str, issuer_name: str) -> str:
    """The otpauth:// Key URI an authenticator app (or its QR code) takes."""
    return _totp(secret).provisioning_uri(name=account, issuer_name=issuer_name)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)


def time_step(now: float) -> int:
    return int(now) // TOTP_PERIOD


def totp_code(secret: str, step: int) -> str:
    """The code of one time step (for tests and the bench: what an app would show)."""
    return _totp(secret).generate_otp(step)


def accepted_step(secret: str, code: str, *, now: float, after_step: int) -> int | None:
    """The time step `code` is valid for: within TOTP_SKEW_STEPS of `now` and later than
    `after_step` (the account's last accepted one). None: wrong, or already used."""
    code = code.strip().replace(" ", "")
    if len(code) != TOTP_DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = _totp(secret)
    current = time_step(now)
    matched = None
    # Every candidate is compared, in constant time, whichever matches.
    for step in range(current - TOTP_SKEW_STEPS, current + TOTP_SKEW_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code) and step > after_step:
            matched = step
    return matched


# -- recovery codes -----------------------------------------------------------------


@dataclass(frozen=True)
class RecoveryCodes:
    """A fresh set: the codes to show once, and what to store (public id -> hash)."""

    codes: tuple[str, ...]
    hashes: Mapping[str, str]


def _random_chars(count: int) -> str:
    return "".join(secrets.choice(_BASE32) for _ in range(count))


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> RecoveryCodes:
    codes: dict[str, str] = {}
    while len(codes) < count:
        code_id = _random_chars(RECOVERY_ID_CHARS)
        if code_id not in codes:  # ids are unique within a set
            codes[code_id] = code_id + _random_chars(RECOVERY_SECRET_CHARS)
    return RecoveryCodes(
        codes=tuple(_grouped(code) for code in codes.values()),
        hashes={code_id: _RECOVERY_HASHER.hash(code) for code_id, code in codes.items()},
    )


def _grouped(code: str) -> str:
    return "-".join(code[i : i + RECOVERY_GROUP] for i in range(0, len(code), RECOVERY_GROUP))


def parse_recovery_code(text: str) -> tuple[str, str] | None:
    """(public id, the whole code normalised) of a code as typed: any case, with or
    without its dashes and spaces; None for anything that cannot be one."""
    if len(text) > MAX_CODE_INPUT:
        return None
    code = "".join(text.split()).replace("-", "").lower()
    if len(code) != RECOVERY_ID_CHARS + RECOVERY_SECRET_CHARS or any(
        c not in _BASE32 for c in code
    ):
        return None
    return code[:RECOVERY_ID_CHARS], code


# A hash of no code (of a random one, with the parameters above): an unknown id is
# checked against it, so its answer takes as long. A constant, so importing this module
# (every function's cold start) hashes nothing.
_NO_CODE_HASH = "$argon2id$v=19$m=8192,t=1,p=1$eSmAcRgnseTzdsXpJJfwrQ$2qEiZwSSuq4wHCoaBwqEO6Jb+BrqewxqxKvDMg1yhOc"


def recovery_code_matches(stored_hash: str | None, code: str) -> bool:
    """Whether `code` (normalised) is the one `stored_hash` was made of; None (an unknown
    id) costs the same and is False."""
    try:
        return _RECOVERY_HASHER.verify(stored_hash or _NO_CODE_HASH, code) and bool(stored_hash)
    except (VerificationError, InvalidHashError):
        return False
