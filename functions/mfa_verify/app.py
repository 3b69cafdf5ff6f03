"""POST /auth/mfa/verify: the second step of a login with a second factor. No
authorizer: the mfa_token the login handed out is the credential, with a code from the
authenticator app or a recovery code."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth import wiring
from stateless_auth.config import load_settings
from stateless_auth.domain.errors import InvalidMfaToken, LoginFailed, TooManyAttempts
from stateless_auth.http.handler import http_handler
from stateless_auth.http.identity import client_of
from stateless_auth.http.lost_notices import record_lost_notice
from stateless_auth.http.password_refusals import record_refusal
from stateless_auth.http.requests import json_body, optional_string_field, string_field
from stateless_auth.http.second_factor import second_factor_field
from stateless_auth.http.token_delivery import delivery_field, token_response
from stateless_auth.storage.aws_clients import dynamodb_client, sqs_client
from stateless_auth.tokens.mfa_tokens import MfaTokenVerifier
from stateless_auth.usecases.mfa import verify_login

logger = Logger()
metrics = Metrics()
settings = load_settings()
dynamodb = dynamodb_client()
users = wiring.user_repository(settings, dynamodb)
sessions = wiring.session_repository(settings, dynamodb)
mail = wiring.mail_queue(settings, sqs_client())
signing_key = wiring.signing_key_provider(settings).current
verifier = MfaTokenVerifier(wiring.public_key_store(settings), audience=settings.jwt_audience)
issuer = wiring.issuer(settings)
MAX_MFA_TOKEN_LENGTH = 8 * 1024


@http_handler(logger, metrics, allowed_origins=settings.allowed_origins)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    body = json_body(event)
    mfa_token = string_field(body, "mfa_token", max_length=MAX_MFA_TOKEN_LENGTH)
    typed = second_factor_field(body)
    # The login's choice, unless this call makes its own.
    asked = optional_string_field(body, "refresh_token_delivery")
    delivery = delivery_field(body) if asked is not None else None
    user_agent, ip = client_of(event)
    try:
        verified = verify_login(
            mfa_token,
            typed,
            user_agent=user_agent,
            ip=ip,
            users=users,
            sessions=sessions,
            mail=mail,
            verifier=verifier,
            signing_key=signing_key,
            issuer=issuer(),
            settings=settings,
        )
    except (LoginFailed, TooManyAttempts) as refused:
        record_refusal(
            logger,
            metrics,
            refused,
            failed="second factor refused",
            locked_out="second factor refused: locked out",
        )
        raise
    except InvalidMfaToken:
        logger.info("mfa_token refused")
        metrics.add_metric(name="MfaTokenRefused", unit=MetricUnit.Count, value=1)
        raise
    grant = verified.grant
    method = "recovery_code" if verified.used_recovery_code else "totp"
    logger.info(
        "login succeeded",
        extra={"user_id": grant.user_id, "session_id": grant.session_id, "second_factor": method},
    )
    metrics.add_metric(name="LoginSucceeded", unit=MetricUnit.Count, value=1)
    if verified.used_recovery_code:
        metrics.add_metric(name="RecoveryCodeUsed", unit=MetricUnit.Count, value=1)
        record_lost_notice(logger, metrics, verified.notice_queued, grant.user_id)
    return token_response(grant, delivery or verified.delivery)
