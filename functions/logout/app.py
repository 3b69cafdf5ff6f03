"""POST /auth/logout: revoke the session, clear the cookie; 204 whatever was sent."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth import runtime
from stateless_auth.edge import http_handler
from stateless_auth.errors import InvalidRequest, InvalidToken
from stateless_auth.httpapi import cleared_refresh_cookie, presented_refresh_token, response

logger = Logger()
metrics = Metrics()
service = runtime.auth_service(sessions=True)


@http_handler(logger, metrics)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    try:
        token, _ = presented_refresh_token(event, service.settings.allowed_origins)
    except (InvalidRequest, InvalidToken):
        token = None  # a malformed token or body: nothing to revoke, still 204 (CONTRACT §3)
    session_id = service.logout(token) if token else None
    logger.info("logout", extra={"session_id": session_id, "known_token": session_id is not None})
    metrics.add_metric(name="Logout", unit=MetricUnit.Count, value=1)
    return response(204, None, cookies=[cleared_refresh_cookie()])
