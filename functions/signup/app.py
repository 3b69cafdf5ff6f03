"""POST /auth/signup: the same 202 for a new and a taken email (CONTRACT §3, §5)."""

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
from stateless_auth.usecases.signup import sign_up

logger = Logger()
metrics = Metrics()
settings = load_settings()
users = wiring.user_repository(settings, dynamodb_client())
mail = wiring.mail_queue(settings, sqs_client())


@http_handler(logger, metrics, allowed_origins=settings.allowed_origins)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    body = json_body(event)
    email, password = string_field(body, "email"), string_field(body, "password")
    normalised_email = sign_up(email, password, users=users, mail=mail, settings=settings)
    # One line and one metric whatever happened: whether the email was taken is the
    # mailer's to know (its logs say which mail went out), not this answer's.
    logger.info("signup accepted")
    metrics.add_metric(name="SignUpAccepted", unit=MetricUnit.Count, value=1)
    return response(202, {"email": normalised_email})
