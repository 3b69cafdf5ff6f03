"""The Lambda authorizer's decision: a simple response for API Gateway HTTP API.

Its import path holds no boto3, pydantic or Powertools data classes: it runs on
every protected call and each cold start is paid by a user. The decision depends
only on the token (never on the route), so API Gateway may cache it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stateless_auth.errors import TokenVerificationError
from stateless_auth.tokens import AccessTokenVerifier
from stateless_auth.urls import api_origin

DENY: dict[str, Any] = {"isAuthorized": False}


def bearer_token(headers: Mapping[str, Any]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header."""
    value = headers.get("authorization")
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not isinstance(value, str):
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authorize(
    event: Mapping[str, Any], verifier: AccessTokenVerifier, *, issuer: str
) -> tuple[dict[str, Any], str]:
    """The simple response for the event, and a short reason for the log line."""
    if not isinstance(event, Mapping):
        return DENY, "malformed event"
    token = bearer_token(event.get("headers") or {})
    if token is None:
        return DENY, "no bearer token"
    try:
        claims = verifier.verify(token, issuer=issuer or api_origin(event))
    except TokenVerificationError as exc:
        return DENY, str(exc)
    context = {
        "sub": claims["sub"],
        "roles": list(claims.get("roles", [])),
        "email": str(claims.get("email", "")),
        "scope": str(claims.get("scope", "")),
        "jti": str(claims["jti"]),
        "exp": int(claims["exp"]),
    }
    return {"isAuthorized": True, "context": context}, "verified"
