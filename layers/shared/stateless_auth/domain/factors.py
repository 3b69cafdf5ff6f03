"""What a second factor's check hands to the write that accepts it, and what a session
records of how it was opened: RFC 8176 `amr` and the assurance level `acr`.

Apart from `domain/mfa.py` (which imports pyotp and argon2): the authorizer, the token
code and every store import these, and their cold starts pay for no hashing library.
"""

from __future__ import annotations

from dataclasses import dataclass

# RFC 8176 method values: the password, a one-time password, and "mfa" for a login
# whose second factor was a recovery code (a look-up secret, which RFC 8176 names no
# method for).
AMR_PASSWORD = ("pwd",)
AMR_TOTP = ("pwd", "otp")
AMR_RECOVERY_CODE = ("pwd", "mfa")
ACR_SINGLE_FACTOR = "aal1"
ACR_MULTI_FACTOR = "aal2"
ACR_LEVELS = frozenset({ACR_SINGLE_FACTOR, ACR_MULTI_FACTOR})
SECOND_FACTORS = frozenset({"otp", "mfa"})


def acr_of(amr: tuple[str, ...] | list[str]) -> str:
    """The assurance level of a login by these methods: aal2 with a second factor."""
    return ACR_MULTI_FACTOR if SECOND_FACTORS.intersection(amr) else ACR_SINGLE_FACTOR


@dataclass(frozen=True)
class TotpUse:
    """Accept the code of `step`: `totp_last_step` becomes `step`, on the condition that
    the account's secret is still `secret` and its last accepted step is earlier."""

    secret: str
    step: int


@dataclass(frozen=True)
class RecoveryCodeUse:
    """Consume one recovery code: its hash is removed, on the condition that it is still
    there."""

    code_id: str
    code_hash: str


FactorUse = TotpUse | RecoveryCodeUse


@dataclass(frozen=True)
class SpentMfaToken:
    """The mfa_token a verify opens its session with: the write that opens the session
    records its id until it expires, on the condition that it is not recorded yet, so
    one mfa_token opens one session (a copy of a used one is worth nothing)."""

    token_id: str
    expires_at: int


def amr_for(factor: FactorUse) -> tuple[str, ...]:
    return AMR_TOTP if isinstance(factor, TotpUse) else AMR_RECOVERY_CODE
