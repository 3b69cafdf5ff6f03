"""POST /auth/signup: create an account."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth import runtime
from stateless_auth.edge import http_handler
from stateless_auth.httpapi import json_body, response, string_field

logger = Logger()
metrics = Metrics()
service = runtime.auth_service(users=True)


@http_handler(logger, metrics)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    body = json_body(event)
    user = service.signup(string_field(body, "email"), string_field(body, "password"))
    logger.info("account created", extra={"user_id": user.user_id})
    metrics.add_metric(name="SignUp", unit=MetricUnit.Count, value=1)
    return response(201, {"user_id": user.user_id, "email": user.email})
