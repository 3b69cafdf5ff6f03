"""The Lambda REQUEST authorizer (simple responses) that guards every protected route.

Hot path: no boto3, no pydantic, no DynamoDB; keys are loaded once per execution
environment and re-read on a schedule; verified tokens are remembered until they
expire. At most one log line per decision: denials at INFO, allows at DEBUG.

The same code is the enrolment authorizer (ACCEPT_MFA_ENROLLMENT_TOKENS=true), which
guards the two enrolment routes only and also takes an enroll-purpose mfa_token.
"""

from typing import Any

from aws_lambda_powertools import Logger

from stateless_auth import wiring
from stateless_auth.config import load_settings
from stateless_auth.tokens.access import AccessTokenVerifier
from stateless_auth.tokens.authorizer import Authorizer
from stateless_auth.tokens.mfa_tokens import MfaTokenVerifier

logger = Logger()
settings = load_settings()
# Loaded on the first call, not at import: the extension may still be starting
# while the runtime initialises.
keys = wiring.public_key_store(settings)
authorizer = Authorizer(
    AccessTokenVerifier(keys, audience=settings.jwt_audience),
    issuer=wiring.issuer(settings),
    enrollment_tokens=(
        MfaTokenVerifier(keys, audience=settings.jwt_audience)
        if settings.accept_mfa_enrollment_tokens
        else None
    ),
)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    decision, reason = authorizer.decide(event)
    if not decision["isAuthorized"]:
        logger.info("denied", extra={"reason": reason})
    elif logger.log_level <= 10:  # DEBUG: skip building the record otherwise
        logger.debug("authorized", extra={"reason": reason, "sub": decision["context"]["sub"]})
    return decision
