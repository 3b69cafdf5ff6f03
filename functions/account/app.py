"""POST /auth/password/change and DELETE /me: the account's own changes, with its
current password (behind the authorizer)."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth import wiring
from stateless_auth.config import load_settings
from stateless_auth.domain import passwords
from stateless_auth.domain.errors import LoginFailed, TooManyAttempts
from stateless_auth.http.handler import http_handler
from stateless_auth.http.identity import caller_of
from stateless_auth.http.lost_notices import record_lost_notice
from stateless_auth.http.password_refusals import record_refusal
from stateless_auth.http.requests import json_body, string_field
from stateless_auth.http.responses import response
from stateless_auth.http.token_delivery import cleared_refresh_cookie
from stateless_auth.storage.aws_clients import dynamodb_client, sqs_client
from stateless_auth.usecases.account import change_password, delete_account

logger = Logger()
metrics = Metrics()
settings = load_settings()
users = wiring.user_repository(settings, dynamodb_client())
mail = wiring.mail_queue(settings, sqs_client())
# As login's: the password of an account that changed under the token is checked too.
unknown_email_hash = passwords.unusable_hash()
CHANGE_ROUTE = "POST /auth/password/change"
DELETE_ROUTE = "DELETE /me"


@http_handler(logger, metrics, allowed_origins=settings.allowed_origins)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    caller = caller_of(event)
    body = json_body(event)
    try:
        if event.route_key == CHANGE_ROUTE:
            current = string_field(body, "current_password")
            new = string_field(body, "new_password")
            queued = change_password(
                caller,
                current,
                new,
                users=users,
                mail=mail,
                settings=settings,
                unknown_email_hash=unknown_email_hash,
            )
            logger.info("password changed", extra={"user_id": caller.user_id})
            metrics.add_metric(name="PasswordChanged", unit=MetricUnit.Count, value=1)
            cookies = None
        elif event.route_key == DELETE_ROUTE:
            password = string_field(body, "password")
            queued = delete_account(
                caller,
                password,
                users=users,
                mail=mail,
                settings=settings,
                unknown_email_hash=unknown_email_hash,
            )
            logger.info("account deleted", extra={"user_id": caller.user_id})
            metrics.add_metric(name="AccountDeleted", unit=MetricUnit.Count, value=1)
            cookies = [cleared_refresh_cookie()]
        else:
            raise LookupError(f"no handler for {event.route_key}")
    except (LoginFailed, TooManyAttempts) as refused:
        record_refusal(
            logger,
            metrics,
            refused,
            failed="current password refused",
            locked_out="refused: locked out",
        )
        raise
    record_lost_notice(logger, metrics, queued, caller.user_id)
    return response(204, None, cookies=cookies)
