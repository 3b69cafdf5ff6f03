"""The example's routes: who the Stateless Auth authorizer says the caller is.

API Gateway calls this function only after the authorizer allowed the request; its
context (``requestContext.authorizer.lambda``) holds the token's claims: ``sub`` (the
user id), ``sid`` (the session), ``roles``. No token code and no key here.
"""

from __future__ import annotations

import json
from typing import Any

ADMIN_ROLE = "admin"


def _reply(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", "cache-control": "no-store"},
        "body": json.dumps(body),
    }


def _roles(value: Any) -> list[str]:
    """The roles claim: a list, or (as some gateways pass context values) a string."""
    if isinstance(value, list):
        return [str(role) for role in value]
    if isinstance(value, str) and value.strip():
        return [role.strip() for role in value.strip("[]").replace('"', "").split(",")]
    return []


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    identity = ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda") or {}
    if not identity.get("sub"):  # only if the route were deployed without the authorizer
        return _reply(401, {"error": "unauthorized", "message": "no authorizer context"})
    caller = {
        "sub": str(identity["sub"]),
        "sid": str(identity.get("sid", "")),
        "roles": _roles(identity.get("roles")),
    }
    if event.get("rawPath") == "/admin":
        if ADMIN_ROLE not in caller["roles"]:
            return _reply(
                403, {"error": "forbidden", "message": f"this route needs the {ADMIN_ROLE} role"}
            )
        return _reply(200, {"message": f"hello, admin {caller['sub']}", **caller})
    return _reply(200, {"message": f"hello, {caller['sub']}", **caller})
