"""The second factor, signed in: POST /auth/mfa/totp/enroll and /confirm (behind the
enrolment authorizer, which also takes an enrolment token under MFA=required), POST
/auth/mfa/recovery-codes and DELETE /auth/mfa (behind the authorizer)."""

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
from stateless_auth.http.second_factor import second_factor_field
from stateless_auth.storage.aws_clients import dynamodb_client, sqs_client
from stateless_auth.usecases import mfa

logger = Logger()
metrics = Metrics()
settings = load_settings()
users = wiring.user_repository(settings, dynamodb_client())
mail = wiring.mail_queue(settings, sqs_client())
# As login's: the password of an account that changed under the token is checked too.
unknown_email_hash = passwords.unusable_hash()
ENROLL_ROUTE = "POST /auth/mfa/totp/enroll"
CONFIRM_ROUTE = "POST /auth/mfa/totp/confirm"
RECOVERY_CODES_ROUTE = "POST /auth/mfa/recovery-codes"
DISABLE_ROUTE = "DELETE /auth/mfa"


@http_handler(logger, metrics, allowed_origins=settings.allowed_origins)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    route = event.route_key
    caller = caller_of(event, enrolling=route in (ENROLL_ROUTE, CONFIRM_ROUTE))
    body = json_body(event)
    try:
        if route == ENROLL_ROUTE:
            enrollment = mfa.enroll_totp(
                caller,
                string_field(body, "password"),
                users=users,
                settings=settings,
                unknown_email_hash=unknown_email_hash,
            )
            logger.info("mfa enrolment started", extra={"user_id": caller.user_id})
            return response(
                200, {"secret": enrollment.secret, "otpauth_uri": enrollment.otpauth_uri}
            )
        if route == CONFIRM_ROUTE:
            issued = mfa.confirm_totp(
                caller,
                string_field(body, "code", max_length=64),
                users=users,
                mail=mail,
                settings=settings,
            )
            logger.info("mfa enabled", extra={"user_id": caller.user_id})
            metrics.add_metric(name="MfaEnabled", unit=MetricUnit.Count, value=1)
            record_lost_notice(logger, metrics, issued.notice_queued, caller.user_id)
            return response(200, {"recovery_codes": list(issued.codes)})
        password = string_field(body, "password")
        typed = second_factor_field(body)
        if route == RECOVERY_CODES_ROUTE:
            issued = mfa.renew_recovery_codes(
                caller,
                password,
                typed,
                users=users,
                mail=mail,
                settings=settings,
                unknown_email_hash=unknown_email_hash,
            )
            logger.info("recovery codes renewed", extra={"user_id": caller.user_id})
            metrics.add_metric(name="RecoveryCodesRenewed", unit=MetricUnit.Count, value=1)
            record_lost_notice(logger, metrics, issued.notice_queued, caller.user_id)
            return response(200, {"recovery_codes": list(issued.codes)})
        if route == DISABLE_ROUTE:
            queued = mfa.disable_mfa(
                caller,
                password,
                typed,
                users=users,
                mail=mail,
                settings=settings,
                unknown_email_hash=unknown_email_hash,
            )
            logger.info("mfa disabled", extra={"user_id": caller.user_id})
            metrics.add_metric(name="MfaDisabled", unit=MetricUnit.Count, value=1)
            record_lost_notice(logger, metrics, queued, caller.user_id)
            return response(204, None)
    except (LoginFailed, TooManyAttempts) as refused:
        record_refusal(
            logger,
            metrics,
            refused,
            failed="password or code refused",
            locked_out="refused: locked out",
        )
        raise
    raise LookupError(f"no handler for {route}")
