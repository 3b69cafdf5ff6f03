"""POST /auth/login: check the password, open a session, hand out tokens."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth import runtime
from stateless_auth.edge import http_handler
from stateless_auth.errors import TooManyAttempts
from stateless_auth.httpapi import delivery_field, json_body, string_field, token_response
from stateless_auth.service import LoginFailed

logger = Logger()
metrics = Metrics()
service = runtime.auth_service(users=True, sessions=True, signing=True)
issuer = runtime.issuer(service.settings)


@http_handler(logger, metrics)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    body = json_body(event)
    email = string_field(body, "email")
    password = string_field(body, "password")
    delivery = delivery_field(body)
    try:
        grant = service.login(email, password, issuer=issuer())
    except LoginFailed as failed:
        logger.warning("login failed", extra={"lockout_started": failed.locked})
        metrics.add_metric(name="LoginFailed", unit=MetricUnit.Count, value=1)
        if failed.locked:
            metrics.add_metric(name="LockoutStarted", unit=MetricUnit.Count, value=1)
        raise
    except TooManyAttempts as locked:
        logger.warning("login refused: locked out", extra={"retry_after": locked.retry_after})
        metrics.add_metric(name="LoginLockedOut", unit=MetricUnit.Count, value=1)
        raise
    logger.info("login succeeded", extra={"user_id": grant.user_id, "session_id": grant.session_id})
    metrics.add_metric(name="LoginSucceeded", unit=MetricUnit.Count, value=1)
    return token_response(grant, delivery)
