"""The mfa_token: what a login with the right password hands out when a second factor is
still due (CONTRACT issue 14). A JWT signed like an access token, but with its own `typ`
(`mfa+jwt`) and audience (`<JWT_AUDIENCE>:mfa`), so the authorizer (which takes
`at+jwt` for the service's audience alone) and any other RFC 9068 verifier refuse it,
and refresh does not know it. It lives five minutes and is bound to the account as the
password check found it: its user id, the id of its password and its sessions epoch.
A password change or reset, or turning the second factor off, voids it.

Purpose `verify`: POST /auth/mfa/verify takes it with a code. Purpose `enroll`
(MFA=required, an account without a second factor yet): the enrolment authorizer takes
it as a Bearer token at the two enrolment routes, and nowhere else.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import jwt

from stateless_auth.domain.errors import TokenVerificationError
from stateless_auth.domain.factors import AMR_PASSWORD
from stateless_auth.tokens.access import AccessTokenVerifier
from stateless_auth.tokens.keys import ALGORITHM, PublicKeyStore, SigningKey

MFA_TOKEN_TYPE = "mfa+jwt"  # noqa: S105 - a media type, not a secret
MFA_TOKEN_TTL_SECONDS = 300
DELIVERIES = ("cookie", "body")


class MfaPurpose(StrEnum):
    VERIFY = "verify"  # continue the login with a code
    ENROLL = "enroll"  # MFA=required: set a second factor up first


def mfa_audience(audience: str) -> str:
    """The mfa_token's own audience: never the access tokens' one."""
    return f"{audience}:mfa"


@dataclass(frozen=True)
class MfaChallenge:
    """What an mfa_token says: whose login it continues, for what, bound to which
    password and sessions epoch, and where the login asked the refresh token to go."""

    user_id: str
    email: str
    purpose: MfaPurpose
    password_set_id: str
    sessions_epoch: int
    delivery: str = "cookie"
    expires_at: int = 0  # the token's exp (0: not issued yet)
    token_id: str = ""  # its jti ("" : not issued yet)


@dataclass(frozen=True)
class MfaToken:
    token: str
    expires_in: int
    purpose: MfaPurpose


def issue_mfa_token(
    key: SigningKey, challenge: MfaChallenge, *, issuer: str, audience: str, now: float
) -> MfaToken:
    issued_at = int(now)
    claims = {
        "iss": issuer,
        "aud": mfa_audience(audience),
        "sub": challenge.user_id,
        "email": challenge.email,
        "iat": issued_at,
        "exp": issued_at + MFA_TOKEN_TTL_SECONDS,
        "jti": secrets.token_urlsafe(16),
        "purpose": str(challenge.purpose),
        "psid": challenge.password_set_id,
        "epoch": challenge.sessions_epoch,
        "amr": list(AMR_PASSWORD),
        "rtd": challenge.delivery,
    }
    token = jwt.encode(
        claims,
        key.private_key,
        algorithm=ALGORITHM,
        headers={"typ": MFA_TOKEN_TYPE, "kid": key.kid},
    )
    return MfaToken(token=token, expires_in=MFA_TOKEN_TTL_SECONDS, purpose=challenge.purpose)


class MfaTokenVerifier:
    """Verifies mfa_tokens against the service's public key set: the access tokens'
    checks (signature, alg, kid, iss, exp, iat, sub) with this token's typ and
    audience, then its own claims."""

    def __init__(
        self,
        keys: PublicKeyStore,
        *,
        audience: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verifier = AccessTokenVerifier(
            keys,
            audience=mfa_audience(audience),
            clock=clock,
            token_types=frozenset({MFA_TOKEN_TYPE, "application/" + MFA_TOKEN_TYPE}),
        )

    @property
    def key_version(self) -> int:
        return self._verifier.key_version

    @property
    def loaded_key_version(self) -> int:
        return self._verifier.loaded_key_version

    def verify(self, token: str, *, issuer: str, purpose: MfaPurpose) -> MfaChallenge:
        """The challenge `token` carries, or TokenVerificationError."""
        claims = self._verifier.verify(token, issuer=issuer)
        email, psid, epoch = claims.get("email"), claims.get("psid"), claims.get("epoch")
        delivery = claims.get("rtd", "cookie")
        if claims.get("purpose") != purpose:
            raise TokenVerificationError(f"not an mfa_token for {purpose}")
        if type(email) is not str or not email or type(psid) is not str:
            raise TokenVerificationError("email or psid missing")
        if type(epoch) is not int or delivery not in DELIVERIES:
            raise TokenVerificationError("epoch or rtd malformed")
        return MfaChallenge(
            user_id=claims["sub"],
            email=email,
            purpose=purpose,
            password_set_id=psid,
            sessions_epoch=epoch,
            delivery=delivery,
            expires_at=claims["exp"],
            token_id=claims["jti"],
        )
