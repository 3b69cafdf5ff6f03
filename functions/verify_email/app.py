"""POST /auth/verify-email (use a verification link) and POST /auth/verify-email/resend."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth import wiring
from stateless_auth.config import load_settings
from stateless_auth.http.handler import http_handler
from stateless_auth.http.requests import json_body, string_field
from stateless_auth.http.responses import response
from stateless_auth.storage.aws_clients import dynamodb_client, sqs_client
from stateless_auth.usecases.verify_email import resend_verification, verify_email

logger = Logger()
metrics = Metrics()
settings = load_settings()
users = wiring.user_repository(settings, dynamodb_client())
mail = wiring.mail_queue(settings, sqs_client())
RESEND_ROUTE = "POST /auth/verify-email/resend"


@http_handler(logger, metrics, allowed_origins=settings.allowed_origins)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    body = json_body(event)
    if event.route_key == RESEND_ROUTE:  # the route, not the path: stages add a prefix
        resend_verification(string_field(body, "email"), mail=mail)
        logger.info("verification resend accepted")
        metrics.add_metric(name="VerificationResendAccepted", unit=MetricUnit.Count, value=1)
        return response(202, {})
    used = verify_email(string_field(body, "token"), users=users)
    logger.info("email verified", extra={"user_id": used.user_id})
    metrics.add_metric(name="EmailVerified", unit=MetricUnit.Count, value=1)
    return response(200, {"user_id": used.user_id, "email": used.email, "email_verified": True})
