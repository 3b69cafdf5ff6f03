"""GET /me: an example protected route; who the authorizer says the caller is."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth.config import load_settings
from stateless_auth.domain.errors import AuthError
from stateless_auth.http.handler import http_handler
from stateless_auth.http.identity import authorizer_context
from stateless_auth.http.responses import response

logger = Logger()
settings = load_settings()


@http_handler(logger, allowed_origins=settings.allowed_origins)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    identity = authorizer_context(event)
    user_id = identity.get("sub")
    if not isinstance(user_id, str) or not user_id:
        # Only reachable if the route is deployed without the authorizer.
        raise AuthError("this route needs the authorizer's context")
    roles = identity.get("roles")
    # The authorizer passes a list of strings; anything else is no role.
    roles = [r for r in roles if isinstance(r, str)] if isinstance(roles, list) else []
    return response(
        200,
        {
            "user_id": user_id,
            "email": str(identity.get("email") or ""),
            # Only an explicit true: a context without it never claims a proven email.
            "email_verified": identity.get("email_verified") in (True, "true"),
            "roles": roles,
        },
    )
