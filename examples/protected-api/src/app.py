"""The example's routes: who the Stateless Auth authorizer says the caller is.

API Gateway calls this function only after the authorizer allowed the request; its
context (``requestContext.authorizer.lambda``) holds the token's claims: ``sub`` (the
user id), ``sid`` (the session), ``roles``, and how the session was opened: ``acr``
(``aal1`` with a password alone, ``aal2`` with a second factor too) and ``amr``. No token
code and no key here.
"""

from __future__ import annotations

import json
from typing import Any

ADMIN_ROLE = "admin"
# The assurance level a login with a password and a second factor earns (the auth stack's
# access tokens say "aal1" for a password alone).
SECOND_FACTOR_ACR = "aal2"


def _reply(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", "cache-control": "no-store"},
        "body": json.dumps(body),
    }


def _roles(value: Any) -> list[str]:
    """The roles claim: a list of strings, or (as some gateways pass context values) its
    JSON text. Anything else is no roles at all: a role check must fail closed, never
    guess by splitting a string."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    if isinstance(value, list) and all(isinstance(role, str) for role in value):
        return list(value)
    return []


def _acr(value: Any) -> str:
    """The acr claim: a string, else none (no second factor can be assumed)."""
    return value if isinstance(value, str) else ""


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    identity = ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda") or {}
    if not identity.get("sub"):  # only if the route were deployed without the authorizer
        return _reply(401, {"error": "unauthorized", "message": "no authorizer context"})
    caller = {
        "sub": str(identity["sub"]),
        "sid": str(identity.get("sid", "")),
        "roles": _roles(identity.get("roles")),
        "acr": _acr(identity.get("acr")),
    }
    if event.get("rawPath") == "/secure":
        # A second factor required: exactly aal2, fail closed on anything else (a token
        # from before the second factor existed has no acr at all).
        if caller["acr"] != SECOND_FACTOR_ACR:
            return _reply(
                403,
                {
                    "error": "mfa_required",
                    "message": "this route needs a login with a second factor "
                    f"(acr {SECOND_FACTOR_ACR}); turn two-step verification on and log in again",
                },
            )
        return _reply(200, {"message": f"hello, {caller['sub']}, with a second factor", **caller})
    if event.get("rawPath") == "/admin":
        if ADMIN_ROLE not in caller["roles"]:
            return _reply(
                403, {"error": "forbidden", "message": f"this route needs the {ADMIN_ROLE} role"}
            )
        return _reply(200, {"message": f"hello, admin {caller['sub']}", **caller})
    return _reply(200, {"message": f"hello, {caller['sub']}", **caller})
