"""POST /auth/logout: revoke the session, clear the cookie; 204 whatever was sent."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth import wiring
from stateless_auth.config import load_settings
from stateless_auth.domain.errors import InvalidRequest, InvalidToken
from stateless_auth.http.handler import http_handler
from stateless_auth.http.responses import response
from stateless_auth.http.token_delivery import cleared_refresh_cookie, presented_refresh_token
from stateless_auth.storage.aws_clients import dynamodb_client
from stateless_auth.usecases.logout import log_out

logger = Logger()
metrics = Metrics()
settings = load_settings()
sessions = wiring.session_repository(settings, dynamodb_client())


@http_handler(logger, metrics, allowed_origins=settings.allowed_origins)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    try:
        token, _ = presented_refresh_token(event, settings.allowed_origins)
    except (InvalidRequest, InvalidToken):
        token = None  # a malformed token or body: nothing to revoke, still 204 (docs/routes.md)
    session_id = log_out(token, sessions=sessions) if token else None
    logger.info("logout", extra={"session_id": session_id, "known_token": session_id is not None})
    metrics.add_metric(name="Logout", unit=MetricUnit.Count, value=1)
    return response(204, None, cookies=[cleared_refresh_cookie()])
