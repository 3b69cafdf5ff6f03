"""The Lambda REQUEST authorizer (simple responses) that guards every protected route.

Hot path: no boto3, no pydantic, no DynamoDB; keys are loaded once per execution
environment and re-read on a schedule; one log line per decision.
"""

from typing import Any

from aws_lambda_powertools import Logger

from stateless_auth import runtime
from stateless_auth.authorization import authorize
from stateless_auth.tokens import AccessTokenVerifier

logger = Logger()
settings = runtime.settings()
# Loaded on the first call, not at import: the extension may still be starting
# while the runtime initialises.
keys = runtime.public_key_store(settings)
verifier = AccessTokenVerifier(keys, audience=settings.jwt_audience)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    decision, reason = authorize(event, verifier, issuer=settings.jwt_issuer)
    sub = decision.get("context", {}).get("sub")
    logger.info(
        "authorized" if decision["isAuthorized"] else "denied",
        extra={
            "reason": reason,
            "sub": sub,
            "route": event.get("routeArn") if isinstance(event, dict) else None,
        },
    )
    return decision
