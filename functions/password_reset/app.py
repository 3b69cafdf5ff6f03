"""POST /auth/password/forgot (ask for a reset link) and POST /auth/password/reset."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth import wiring
from stateless_auth.config import load_settings
from stateless_auth.http.handler import http_handler
from stateless_auth.http.lost_notices import record_lost_notice
from stateless_auth.http.requests import json_body, string_field
from stateless_auth.http.responses import response
from stateless_auth.storage.aws_clients import dynamodb_client, sqs_client
from stateless_auth.usecases.reset_password import forgot_password, reset_password

logger = Logger()
metrics = Metrics()
settings = load_settings()
users = wiring.user_repository(settings, dynamodb_client())
mail = wiring.mail_queue(settings, sqs_client())
FORGOT_ROUTE = "POST /auth/password/forgot"


@http_handler(logger, metrics, allowed_origins=settings.allowed_origins)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    body = json_body(event)
    if event.route_key == FORGOT_ROUTE:  # the route, not the path: stages add a prefix
        forgot_password(string_field(body, "email"), mail=mail)
        logger.info("password reset requested")
        metrics.add_metric(name="PasswordResetRequested", unit=MetricUnit.Count, value=1)
        return response(202, {})
    token, password = string_field(body, "token"), string_field(body, "password")
    used, notice_queued = reset_password(token, password, users=users, mail=mail, settings=settings)
    logger.info("password reset", extra={"user_id": used.user_id})
    metrics.add_metric(name="PasswordReset", unit=MetricUnit.Count, value=1)
    record_lost_notice(
        logger, metrics, notice_queued, used.user_id, message="password changed notice not queued"
    )
    return response(204, None)
