"""POST /auth/refresh: rotate the refresh token, hand out a new access token."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth import runtime
from stateless_auth.edge import http_handler
from stateless_auth.errors import InvalidRequest
from stateless_auth.httpapi import presented_refresh_token, token_response
from stateless_auth.service import RefreshRejected

logger = Logger()
metrics = Metrics()
service = runtime.auth_service(sessions=True, signing=True)
issuer = runtime.issuer(service.settings)


@http_handler(logger, metrics)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    token, delivery = presented_refresh_token(event, service.settings.allowed_origins)
    if token is None:
        raise InvalidRequest('no refresh token: send the cookie or {"refresh_token": ...}')
    try:
        grant = service.refresh(token, issuer=issuer())
    except RefreshRejected as rejected:
        logger.warning(
            "refresh refused", extra={"reason": rejected.reason, "session_id": rejected.session_id}
        )
        metrics.add_metric(
            name=f"RefreshRejected_{rejected.reason}", unit=MetricUnit.Count, value=1
        )
        if rejected.reason == "reuse":
            metrics.add_metric(name="RefreshTokenReuse", unit=MetricUnit.Count, value=1)
        raise
    logger.info(
        "refresh succeeded", extra={"user_id": grant.user_id, "session_id": grant.session_id}
    )
    metrics.add_metric(name="RefreshSucceeded", unit=MetricUnit.Count, value=1)
    return token_response(grant, delivery)
