"""Access tokens (RFC 9068 JWTs signed with ES256) and opaque refresh tokens.

The only module that touches pyjwt. Verification follows CONTRACT §4: alg exactly
ES256, typ at+jwt, no crit, a key from our own set by kid (jwk/jku/x5u/x5c headers
are never consulted), exact iss and aud, exp/iat with 30 s leeway, at most 8 KiB.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.api_jws import PyJWS
from jwt.exceptions import DecodeError
from jwt.utils import base64url_decode

from stateless_auth.errors import TokenVerificationError
from stateless_auth.keys import ALGORITHM, PublicKeyStore, SigningKey

TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
# RFC 9068 §4: "at+jwt", or the full media type; compared case-insensitively.
ACCEPTED_TOKEN_TYPES = frozenset({TOKEN_TYPE, "application/" + TOKEN_TYPE})
MAX_TOKEN_BYTES = 8 * 1024
LEEWAY_SECONDS = 30
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "jti"]
ALGORITHMS = [ALGORITHM]
DECODE_OPTIONS: Any = {"require": REQUIRED_CLAIMS, "strict_aud": True}
REFRESH_TOKEN_BYTES = 32  # 256 bits
MAX_CHECKED_HEADERS = 64


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
    now: float | None = None,
) -> AccessToken:
    """A signed access token for the subject, valid for ttl seconds."""
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
    }
    token = jwt.encode(
        claims,
        key.private_key,
        algorithm=ALGORITHM,
        headers={"typ": TOKEN_TYPE, "kid": key.kid},
    )
    return AccessToken(token=token, expires_in=ttl)


_BASE64URL = re.compile(rb"[A-Za-z0-9_-]*")
# Last characters whose unused low bits (4 after 2 characters, 2 after 3) are zero.
_CANONICAL_LAST_2 = frozenset(bytes([c]) for c in b"AQgw")
_CANONICAL_LAST_3 = frozenset(bytes([c]) for c in b"AEIMQUYcgkosw048")


def _decode_segment(segment: bytes, name: str) -> bytes:
    """PyJWS._decode_base64url_segment with the alphabet check done by a compiled regex.

    pyjwt 2.15 checks each byte against the base64url alphabet in a Python loop, which
    costs a third of a whole verification. Same rules, same errors: at most two '=' and
    only on a multiple of four, no length of 4n+1, nothing outside the alphabet, and the
    canonical encoding only. tests/unit/test_tokens.py checks it against pyjwt's own on
    random segments.
    """
    stripped = segment.rstrip(b"=")
    padding = len(segment) - len(stripped)
    if padding > 2 or (padding and len(segment) % 4 != 0):
        raise DecodeError(f"Invalid {name} padding")
    if len(stripped) % 4 == 1 or _BASE64URL.fullmatch(stripped) is None:
        raise DecodeError(f"Invalid {name} padding")
    # Canonical form: the bits that the last character carries beyond the data are zero
    # (what re-encoding and comparing checks, without the re-encoding).
    remainder = len(stripped) % 4
    if (remainder == 2 and stripped[-1:] not in _CANONICAL_LAST_2) or (
        remainder == 3 and stripped[-1:] not in _CANONICAL_LAST_3
    ):
        raise DecodeError(f"Invalid {name} padding")
    try:
        return base64url_decode(stripped)
    except (TypeError, binascii.Error) as err:
        raise DecodeError(f"Invalid {name} padding") from err


class _FastPyJWS(PyJWS):
    _decode_base64url_segment = staticmethod(_decode_segment)


def _decoder() -> jwt.PyJWT:
    decoder = jwt.PyJWT()
    decoder._jws = _FastPyJWS(options=decoder._get_sig_options())
    return decoder


_DECODER = _decoder()


MAX_HEADER_SEGMENT = 1024  # ours is ~130 characters; anything far longer is not ours


def _peek_header(segment: str) -> dict[str, Any]:
    """The JOSE header, read only to choose the key; the decode then checks everything."""
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
    ) -> None:
        self._keys = keys
        self._audience = audience
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
        if str(header.get("typ", "")).lower() not in ACCEPTED_TOKEN_TYPES:
            raise TokenVerificationError("typ is not at+jwt")
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
        kid = self._kid_of(token.partition(".")[0])
        key = self._keys.get(kid)
        if key is None:
            raise TokenVerificationError("unknown kid")
        try:
            claims: dict[str, Any] = _DECODER.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self._audience,
                issuer=issuer,
                leeway=self._leeway,
                options=DECODE_OPTIONS,
            )
        except jwt.PyJWTError as exc:
            raise TokenVerificationError(type(exc).__name__) from None
        # pyjwt takes int() of exp and iat, so "1700000000" would pass: JSON integers only.
        if not all(type(claims[name]) is int for name in ("exp", "iat")):
            raise TokenVerificationError("exp or iat is not an integer")
        now = self._clock()
        if claims["iat"] > now + self._leeway:
            raise TokenVerificationError("iat in the future")
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise TokenVerificationError("sub missing")
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
            raise TokenVerificationError("roles malformed")
        return claims


def new_refresh_token() -> str:
    """An opaque refresh token of 256 random bits."""
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def hash_refresh_token(token: str) -> str:
    """The SHA-256 hex digest under which a refresh token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
