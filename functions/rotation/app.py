"""The signing-key rotation function: Secrets Manager calls it for each rotation step.

Not on a request path: it runs once per step of a scheduled (or `rotate-secret`)
rotation, so plain boto3 clients are fine here. The protocol is in
stateless_auth.tokens.rotation; this handler only wires the two secrets, the KMS key the
signing key secret must be encrypted with, the settings that decide how soon it may
rotate again, and the log.
"""

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from stateless_auth.config import load_settings
from stateless_auth.storage.aws_clients import secrets_manager_client
from stateless_auth.tokens.rotation import (
    RotationTarget,
    RotationTooSoon,
    handle,
    minimum_interval,
)

logger = Logger()
settings = load_settings()


def log_warning(message: str, fields: Mapping[str, Any]) -> None:
    logger.warning(message, extra=dict(fields))


target = RotationTarget(
    secrets=secrets_manager_client(),
    secret_id=settings.require("signing_keys_secret_id"),
    public_secret_id=settings.require("public_keys_secret_id"),
    # ACCESS_TOKEN_TTL_SECONDS and KEYS_REFRESH_SECONDS: the same values the login and
    # refresh functions run with (template Globals), so the interval covers their caches;
    # JWKS_MAX_AGE_SECONDS: what the jwks function tells outside verifiers to cache.
    min_interval_seconds=minimum_interval(
        access_token_ttl=settings.access_token_ttl,
        keys_refresh_seconds=settings.keys_refresh_seconds,
        jwks_max_age=settings.jwks_max_age,
    ),
    log=log_warning,
    # The stack's KMS key (SIGNING_KEYS_KMS_KEY_ID, !Ref SigningKeysKey): every step
    # refuses a secret re-encrypted under any other key. Empty (the local API) skips it.
    kms_key_id=settings.signing_keys_kms_key_id,
)


@logger.inject_lambda_context(log_event=False)
def lambda_handler(
    event: dict[str, Any], context: Any, rotation_target: RotationTarget | None = None
) -> None:
    step = event.get("Step") if isinstance(event, dict) else None
    version = event.get("ClientRequestToken") if isinstance(event, dict) else None
    try:
        outcome = handle(event, rotation_target or target)
    except RotationTooSoon:
        # Already logged, with why and until when, through log_warning. Raising marks the
        # rotation failed; Secrets Manager retries it later with the same token.
        raise
    except Exception:
        # Secrets Manager records the failure and retries the rotation with the same token.
        logger.exception("key rotation step failed", extra={"step": step, "version": version})
        raise
    logger.info("key rotation step", extra={"step": step, "version": version, "outcome": outcome})
