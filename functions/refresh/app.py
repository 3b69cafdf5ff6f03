"""POST /auth/refresh: rotate the refresh token, hand out a new access token."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth import wiring
from stateless_auth.config import load_settings
from stateless_auth.domain.errors import InvalidRequest, RefreshRejected
from stateless_auth.http.handler import http_handler
from stateless_auth.http.token_delivery import (
    missing_refresh_token_message,
    presented_refresh_token,
    token_response,
)
from stateless_auth.storage.aws_clients import dynamodb_client
from stateless_auth.usecases.refresh import refresh

logger = Logger()
metrics = Metrics()
settings = load_settings()
dynamodb = dynamodb_client()
sessions = wiring.session_repository(settings, dynamodb)
users = wiring.user_repository(settings, dynamodb)
signing_key = wiring.signing_key_provider(settings).current
issuer = wiring.issuer(settings)


@http_handler(logger, metrics, allowed_origins=settings.allowed_origins)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    token, delivery = presented_refresh_token(event, settings.allowed_origins)
    if token is None:
        # From a browser app on an allowed origin, the message names the likely cause.
        raise InvalidRequest(missing_refresh_token_message(event, settings.allowed_origins))
    try:
        grant = refresh(
            token,
            sessions=sessions,
            users=users,
            signing_key=signing_key,
            issuer=issuer(),
            settings=settings,
        )
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
