"""POST /auth/login: check the password, open a session, hand out tokens (or, when a
second factor is due, an mfa_token for POST /auth/mfa/verify or for enrolment)."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth import wiring
from stateless_auth.config import load_settings
from stateless_auth.domain import passwords
from stateless_auth.domain.errors import EmailNotVerified, LoginFailed, TooManyAttempts
from stateless_auth.http.handler import http_handler
from stateless_auth.http.identity import client_of
from stateless_auth.http.password_refusals import record_refusal
from stateless_auth.http.requests import json_body, string_field
from stateless_auth.http.responses import response
from stateless_auth.http.token_delivery import delivery_field, token_response
from stateless_auth.storage.aws_clients import dynamodb_client
from stateless_auth.tokens.mfa_tokens import MfaPurpose, MfaToken
from stateless_auth.usecases.login import log_in

logger = Logger()
metrics = Metrics()
settings = load_settings()
dynamodb = dynamodb_client()
users = wiring.user_repository(settings, dynamodb)
sessions = wiring.session_repository(settings, dynamodb)
signing_key = wiring.signing_key_provider(settings).current
issuer = wiring.issuer(settings)
# Unknown emails are checked against this hash (a constant: the cold start makes none).
unknown_email_hash = passwords.unusable_hash()


@http_handler(logger, metrics, allowed_origins=settings.allowed_origins)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    body = json_body(event)
    email, password = string_field(body, "email"), string_field(body, "password")
    delivery = delivery_field(body)
    user_agent, ip = client_of(event)
    try:
        grant = log_in(
            email,
            password,
            user_agent=user_agent,
            ip=ip,
            users=users,
            sessions=sessions,
            signing_key=signing_key,
            issuer=issuer(),
            settings=settings,
            unknown_email_hash=unknown_email_hash,
            delivery=delivery,
        )
    except (LoginFailed, TooManyAttempts) as refused:
        record_refusal(
            logger, metrics, refused, failed="login failed", locked_out="login refused: locked out"
        )
        raise
    except EmailNotVerified:
        logger.info("login refused: email not verified")
        metrics.add_metric(name="LoginUnverified", unit=MetricUnit.Count, value=1)
        raise
    if isinstance(grant, MfaToken):
        # The password was right; the login goes on at POST /auth/mfa/verify (or, under
        # MFA=required, at enrolment). No tokens, no cookie.
        enrolling = grant.purpose is MfaPurpose.ENROLL
        logger.info("login needs the second factor", extra={"enrollment": enrolling})
        metrics.add_metric(
            name="LoginMfaEnrollmentRequired" if enrolling else "LoginMfaRequired",
            unit=MetricUnit.Count,
            value=1,
        )
        flag = "mfa_enrollment_required" if enrolling else "mfa_required"
        return response(200, {flag: True, "mfa_token": grant.token, "expires_in": grant.expires_in})
    logger.info("login succeeded", extra={"user_id": grant.user_id, "session_id": grant.session_id})
    metrics.add_metric(name="LoginSucceeded", unit=MetricUnit.Count, value=1)
    return token_response(grant, delivery)
