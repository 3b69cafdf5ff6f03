"""POST /auth/signup: create an account."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth import wiring
from stateless_auth.config import load_settings
from stateless_auth.http.handler import http_handler
from stateless_auth.http.requests import json_body, string_field
from stateless_auth.http.responses import response
from stateless_auth.storage.aws_clients import dynamodb_client
from stateless_auth.usecases.signup import sign_up

logger = Logger()
metrics = Metrics()
settings = load_settings()
users = wiring.user_repository(settings, dynamodb_client())


@http_handler(logger, metrics, allowed_origins=settings.allowed_origins)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    body = json_body(event)
    email, password = string_field(body, "email"), string_field(body, "password")
    user = sign_up(email, password, users=users, settings=settings)
    logger.info("account created", extra={"user_id": user.user_id})
    metrics.add_metric(name="SignUp", unit=MetricUnit.Count, value=1)
    return response(201, {"user_id": user.user_id, "email": user.email})
