"""The Lambda authorizer's decision: a simple response for API Gateway HTTP API.

Its import path holds no boto3, pydantic or Powertools data classes: it runs on
every protected call and each cold start is paid by a user. The decision depends
only on the token (never on the route), so API Gateway may cache it.

Clients reuse one access token for its whole life, so decisions for tokens that
verified are remembered in a bounded cache: an entry never outlives the token's
`exp`, is tied to the issuer it was checked against, and the whole cache is dropped
when the key set changes (a key that left the set must stop working at once).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from itertools import islice
from typing import Any

from stateless_auth.domain.errors import KeySetError, TokenVerificationError
from stateless_auth.domain.factors import ACR_LEVELS, ACR_SINGLE_FACTOR
from stateless_auth.tokens.access import AccessTokenVerifier
from stateless_auth.tokens.mfa_tokens import MfaPurpose, MfaTokenVerifier

DENY: dict[str, Any] = {"isAuthorized": False}
# One execution environment serves one request at a time and API Gateway caches
# decisions in front of it, so a thousand live tokens per environment is ample; a
# larger table costs every new token more (measured by make bench).
DEFAULT_CACHE_SIZE = 1024


def bearer_token(headers: Mapping[str, Any]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header."""
    value = headers.get("authorization")
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not isinstance(value, str):
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


class VerifiedTokenCache:
    """token -> (decision, issuer, exp): bounded, expiring, emptied on a key-set change."""

    def __init__(
        self,
        max_entries: int = DEFAULT_CACHE_SIZE,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[dict[str, Any], str, int]] = {}
        self._key_version = -1
        # No entry expires before this (a lower bound): eviction skips its scan for expired
        # entries until then.
        self._earliest_exp = math.inf

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, issuer: str, key_version: int) -> dict[str, Any] | None:
        if key_version != self._key_version:
            self._entries.clear()
            self._key_version = key_version
            return None
        entry = self._entries.get(token)
        if entry is None:
            return None
        decision, checked_issuer, expires = entry
        if checked_issuer != issuer:
            return None
        if self._clock() >= expires:
            del self._entries[token]
            return None
        return decision

    def put(
        self, token: str, issuer: str, key_version: int, decision: dict[str, Any], exp: int
    ) -> None:
        if key_version != self._key_version:
            self._entries.clear()
            self._key_version = key_version
        if len(self._entries) >= self.max_entries:
            self._evict()
        self._entries[token] = (decision, issuer, exp)
        if exp < self._earliest_exp:
            self._earliest_exp = exp

    def _evict(self) -> None:
        # Called only when full; drops the expired entries and then the oldest, down to
        # seven eighths, in place: at most one O(n) scan per max_entries/8 new tokens, and
        # none while no entry can have expired.
        now = self._clock()
        entries = self._entries
        if now >= self._earliest_exp:
            expired, earliest = [], math.inf
            for token, (_, _, exp) in entries.items():
                if exp <= now:
                    expired.append(token)
                elif exp < earliest:
                    earliest = exp
            for token in expired:
                del entries[token]
            self._earliest_exp = earliest
        excess = len(entries) - (self.max_entries - max(1, self.max_entries // 8))
        if excess > 0:
            for token in list(islice(entries, excess)):  # insertion order: the oldest
                del entries[token]


class Authorizer:
    """Decides a REQUEST authorizer event: verified tokens allowed, anything else denied."""

    def __init__(
        self,
        verifier: AccessTokenVerifier,
        *,
        issuer: Callable[[], str],
        cache: VerifiedTokenCache | None = None,
        enrollment_tokens: MfaTokenVerifier | None = None,
    ) -> None:
        self._verifier = verifier
        # The enrolment authorizer only (ACCEPT_MFA_ENROLLMENT_TOKENS): also an
        # enroll-purpose mfa_token, which the enrolment routes alone are guarded by.
        self._enrollment_tokens = enrollment_tokens
        # The deployment's one fixed issuer (never the request's domain): a decision then
        # holds on every domain and API, as API Gateway's cache assumes.
        self._issuer = issuer
        self._cache = cache if cache is not None else VerifiedTokenCache()

    def decide(self, event: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        """The simple response for the event, and a short reason for the log line."""
        if not isinstance(event, dict | Mapping):  # dict first: Lambda's events are dicts
            return DENY, "malformed event"
        headers = event.get("headers")
        token = bearer_token(headers) if isinstance(headers, dict | Mapping) else None
        if token is None:
            return DENY, "no bearer token"
        try:
            issuer = self._issuer()
        except KeySetError as exc:
            return DENY, str(exc)
        key_version = self._verifier.key_version
        cached = self._cache.get(token, issuer, key_version)
        if cached is not None:
            return cached, "cached"
        try:
            claims = self._verifier.verify(token, issuer=issuer)
        except TokenVerificationError as exc:
            if self._enrollment_tokens is None:
                return DENY, str(exc)
            return self._decide_enrollment(token, issuer, str(exc))
        # verify() checked the types of sub, jti and exp (str, str, int), roles and amr
        # (lists of strings, fresh ones from this token's JSON) and acr (a string); sid and
        # email are not checked.
        exp: int = claims["exp"]
        acr = claims.get("acr")
        decision = {
            "isAuthorized": True,
            "context": {
                "sub": claims["sub"],
                "sid": str(claims.get("sid", "")),
                "roles": claims.get("roles", []),
                "email": str(claims.get("email", "")),
                "email_verified": claims.get("email_verified") is True,
                # The level the token says (we signed it; a token from before the second
                # factor has none: aal1), and how its session was opened.
                "acr": acr if acr in ACR_LEVELS else ACR_SINGLE_FACTOR,
                "amr": claims.get("amr", []),
                "jti": claims["jti"],
                "exp": exp,
            },
        }
        # verify() may have re-read the key set (and already checked whether it was due):
        # file the entry under the version it verified against.
        self._cache.put(token, issuer, self._verifier.loaded_key_version, decision, exp)
        return decision, "verified"

    def _decide_enrollment(
        self, token: str, issuer: str, denied: str
    ) -> tuple[dict[str, Any], str]:
        """An enroll-purpose mfa_token: allowed with a context that has no session and
        says so (`mfa_enrollment`); anything else keeps the access token's denial."""
        assert self._enrollment_tokens is not None
        try:
            challenge = self._enrollment_tokens.verify(
                token, issuer=issuer, purpose=MfaPurpose.ENROLL
            )
        except TokenVerificationError:
            return DENY, denied
        decision = {
            "isAuthorized": True,
            "context": {
                "sub": challenge.user_id,
                "sid": "",
                "roles": [],
                "email": challenge.email,
                "email_verified": False,  # not what this token is for
                "acr": ACR_SINGLE_FACTOR,
                "amr": ["pwd"],
                "mfa_enrollment": True,
                # The password and epoch it was issued for: the enrolment routes check
                # them against the account, so a reset or change voids the token.
                "psid": challenge.password_set_id,
                "epoch": challenge.sessions_epoch,
                "jti": challenge.token_id,
                "exp": challenge.expires_at,
            },
        }
        self._cache.put(
            token,
            issuer,
            self._enrollment_tokens.loaded_key_version,
            decision,
            challenge.expires_at,
        )
        return decision, "verified enrollment token"
