"""Access tokens: RFC 9068 JWTs signed with ES256, issued and verified.

Verification follows docs/tokens.md "Access token" and "Authorizer": alg exactly ES256,
typ at+jwt (or application/at+jwt), no crit, a key from our own set by kid (jwk, jku,
x5u and x5c headers are never consulted), exact iss and aud, exp and iat JSON integers
with 30 s leeway, a non-empty sub, at most 8 KiB. pyjwt is used through its public API
only: `PyJWS.decode_complete` parses the token and checks its base64url, JSON and
signature, and the claims are checked here, one check per claim.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from stateless_auth.domain.errors import TokenVerificationError
from stateless_auth.domain.factors import AMR_PASSWORD, acr_of
from stateless_auth.tokens.keys import ALGORITHM, PublicKeyStore, SigningKey

TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
# RFC 9068 §4: "at+jwt", or the full media type; compared case-insensitively.
ACCEPTED_TOKEN_TYPES = frozenset({TOKEN_TYPE, "application/" + TOKEN_TYPE})
MAX_TOKEN_BYTES = 8 * 1024
MAX_HEADER_SEGMENT = 1024  # ours is ~110 characters; anything far longer is not ours
LEEWAY_SECONDS = 30
ALGORITHMS = [ALGORITHM]
MAX_CHECKED_HEADERS = 64

# pyjwt's JWS decoder with ES256 alone registered: the token's segments, its header and
# its signature are checked by pyjwt itself, so its fixes reach us with an upgrade.
_JWS = jwt.PyJWS(algorithms=ALGORITHMS)
_JSON = json.JSONDecoder()


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int


def issue_access_token(
    key: SigningKey,
    *,
    subject: str,
    email: str,
    roles: list[str],
    issuer: str,
    audience: str,
    ttl: int,
    session_id: str,
    email_verified: bool = False,
    amr: tuple[str, ...] | list[str] = AMR_PASSWORD,
    now: float | None = None,
) -> AccessToken:
    """A signed access token for the subject, valid for ttl seconds; `amr` says how the
    session was opened and sets the `acr` beside it."""
    issued_at = int(time.time() if now is None else now)
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": issued_at,
        "exp": issued_at + ttl,
        "jti": secrets.token_urlsafe(16),
        "client_id": audience,
        "sid": session_id,
        "email": email,
        "email_verified": email_verified,
        "roles": list(roles),
        "amr": list(amr),
        "acr": acr_of(amr),
    }
    token = jwt.encode(
        claims,
        key.private_key,
        algorithm=ALGORITHM,
        headers={"typ": TOKEN_TYPE, "kid": key.kid},
    )
    return AccessToken(token=token, expires_in=ttl)


def _peek_header(segment: str) -> dict[str, Any]:
    """The JOSE header, read only to choose the key; pyjwt then checks it again."""
    if len(segment) > MAX_HEADER_SEGMENT:
        raise TokenVerificationError("header too large")
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        # RecursionError: "[[[[…" nested past the parser's limit, unsigned and unchecked.
        raise TokenVerificationError("not a JWS") from None
    if not isinstance(header, dict):
        raise TokenVerificationError("not a JWS")
    return header


class AccessTokenVerifier:
    """Verifies access tokens against the service's own public key set."""

    def __init__(
        self,
        keys: PublicKeyStore,
        *,
        audience: str,
        leeway: int = LEEWAY_SECONDS,
        clock: Callable[[], float] = time.time,
        token_types: frozenset[str] = ACCEPTED_TOKEN_TYPES,
    ) -> None:
        self._keys = keys
        self._audience = audience
        # The `typ` values accepted (lower case): access tokens' unless told otherwise
        # (the mfa_token of a login has its own, tokens/mfa_tokens.py).
        self._token_types = token_types
        self._leeway = leeway
        self._clock = clock
        # Every token signed by one key carries the same header segment: its checks are
        # done once per key, not once per token.
        self._checked_headers: dict[str, str] = {}

    @property
    def key_version(self) -> int:
        """Changes whenever the set of verification keys changes (re-reads a stale set)."""
        return self._keys.version

    @property
    def loaded_key_version(self) -> int:
        """key_version as last read, for just after verify() (which re-read if due)."""
        return self._keys.loaded_version

    def _kid_of(self, header_segment: str) -> str:
        """The kid of an acceptable JOSE header, or TokenVerificationError."""
        kid = self._checked_headers.get(header_segment)
        if kid is not None:
            return kid
        header = _peek_header(header_segment)
        if header.get("alg") != ALGORITHM:
            raise TokenVerificationError("alg is not ES256")
        if str(header.get("typ", "")).lower() not in self._token_types:
            raise TokenVerificationError(f"typ is not {min(self._token_types)}")
        if "crit" in header:
            raise TokenVerificationError("crit header present")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise TokenVerificationError("kid missing")
        if len(self._checked_headers) >= MAX_CHECKED_HEADERS:
            self._checked_headers.clear()
        self._checked_headers[header_segment] = kid
        return kid

    def verify(self, token: str, *, issuer: str) -> dict[str, Any]:
        """The token's claims, or TokenVerificationError saying what failed."""
        if not token or len(token) > MAX_TOKEN_BYTES:
            raise TokenVerificationError("token missing or too large")
        dot = token.find(".")
        key = self._keys.get(self._kid_of(token if dot < 0 else token[:dot]))
        if key is None:
            raise TokenVerificationError("unknown kid")
        try:
            payload = _JWS.decode_complete(token, key, algorithms=ALGORITHMS)["payload"]
        except jwt.PyJWTError as exc:
            raise TokenVerificationError(type(exc).__name__) from None
        try:
            text = payload.decode("utf-8")
            # A whole JSON document, no whitespace around it (jwt.encode writes none).
            claims, end = _JSON.raw_decode(text)
        except (ValueError, RecursionError):
            raise TokenVerificationError("payload is not JSON") from None
        if end != len(text) or type(claims) is not dict:
            raise TokenVerificationError("payload is not a JSON object")
        self._check_claims(claims, issuer)
        return claims

    def _check_claims(self, claims: dict[str, Any], issuer: str) -> None:
        """One check per claim, on a payload whose signature is already verified."""
        now = self._clock()
        leeway = self._leeway
        exp, iat = claims.get("exp"), claims.get("iat")
        # JSON integers only: not "1700000000", not 1.7e9, not true.
        if type(exp) is not int or type(iat) is not int:
            raise TokenVerificationError("exp or iat missing or not an integer")
        if exp <= now - leeway:
            raise TokenVerificationError("expired")
        if iat > now + leeway:
            raise TokenVerificationError("iat in the future")
        if "nbf" in claims:  # we never set it; if a token has one, it counts
            nbf = claims["nbf"]
            if type(nbf) is not int or nbf > now + leeway:
                raise TokenVerificationError("nbf not an integer or in the future")
        if claims.get("iss") != issuer:
            raise TokenVerificationError("iss is not ours")
        aud = claims.get("aud")
        if type(aud) is not str or aud != self._audience:
            raise TokenVerificationError("aud is not exactly ours")
        sub = claims.get("sub")
        if type(sub) is not str or not sub:
            raise TokenVerificationError("sub missing")
        if type(claims.get("jti")) is not str:
            raise TokenVerificationError("jti missing")
        roles = claims.get("roles", [])
        if type(roles) is not list:
            raise TokenVerificationError("roles malformed")
        for role in roles:
            if type(role) is not str:
                raise TokenVerificationError("roles malformed")
        amr = claims.get("amr")  # absent from tokens issued before the second factor
        if amr is not None:
            if type(amr) is not list:
                raise TokenVerificationError("amr malformed")
            for method in amr:
                if type(method) is not str:
                    raise TokenVerificationError("amr malformed")
        acr = claims.get("acr")
        if acr is not None and type(acr) is not str:
            raise TokenVerificationError("acr malformed")
