"""GET /auth/sessions, DELETE /auth/sessions/{session_id}, POST /auth/logout-all: the
caller's sessions (behind the authorizer)."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth import wiring
from stateless_auth.config import load_settings
from stateless_auth.http.handler import http_handler
from stateless_auth.http.identity import caller_of
from stateless_auth.http.responses import response
from stateless_auth.http.token_delivery import cleared_refresh_cookie
from stateless_auth.storage.aws_clients import dynamodb_client
from stateless_auth.usecases.sessions import end_session, list_sessions, log_out_everywhere

logger = Logger()
metrics = Metrics()
settings = load_settings()
dynamodb = dynamodb_client()
users = wiring.user_repository(settings, dynamodb)
sessions = wiring.session_repository(settings, dynamodb)
LIST_ROUTE = "GET /auth/sessions"
END_ONE_ROUTE = "DELETE /auth/sessions/{session_id}"
LOGOUT_ALL_ROUTE = "POST /auth/logout-all"


@http_handler(logger, metrics, allowed_origins=settings.allowed_origins)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    caller = caller_of(event)
    if event.route_key == LIST_ROUTE:
        listed = list_sessions(caller, users=users)
        metrics.add_metric(name="SessionsListed", unit=MetricUnit.Count, value=1)
        return response(
            200,
            {
                "sessions": [
                    {
                        "session_id": s.session_id,
                        "created_at": s.created_at,
                        "last_used_at": s.last_used_at,
                        "expires_at": s.expires_at,
                        "user_agent": s.user_agent,
                        "ip": s.ip,
                        "current": s.session_id == caller.session_id,
                    }
                    for s in listed
                ]
            },
        )
    if event.route_key == END_ONE_ROUTE:
        session_id = (event.path_parameters or {}).get("session_id", "")
        end_session(caller, session_id, sessions=sessions)
        logger.info("session ended", extra={"user_id": caller.user_id, "session_id": session_id})
        metrics.add_metric(name="SessionEnded", unit=MetricUnit.Count, value=1)
        return response(204, None)
    if event.route_key == LOGOUT_ALL_ROUTE:
        log_out_everywhere(caller, sessions=sessions)
        logger.info("every session ended", extra={"user_id": caller.user_id})
        metrics.add_metric(name="LogoutAll", unit=MetricUnit.Count, value=1)
        return response(204, None, cookies=[cleared_refresh_cookie()])
    raise LookupError(f"no handler for {event.route_key}")
