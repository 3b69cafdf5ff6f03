"""The signing-key rotation function: Secrets Manager calls it for each rotation step.

Not on a request path: it runs once per step of a scheduled (or `rotate-secret`)
rotation, so plain boto3 clients are fine here. The protocol is in
stateless_auth.rotation; this handler only wires the secret, the parameter and the log.
"""

from typing import Any

import boto3
from aws_lambda_powertools import Logger

from stateless_auth import runtime
from stateless_auth.rotation import RotationTarget, handle

logger = Logger()
settings = runtime.settings()
target = RotationTarget(
    secrets=boto3.client("secretsmanager"),
    ssm=boto3.client("ssm"),
    secret_id=settings.require("signing_keys_secret_id"),
    parameter_name=settings.require("public_keys_parameter"),
)


@logger.inject_lambda_context(log_event=False)
def lambda_handler(
    event: dict[str, Any], context: Any, rotation_target: RotationTarget | None = None
) -> None:
    step = event.get("Step") if isinstance(event, dict) else None
    version = event.get("ClientRequestToken") if isinstance(event, dict) else None
    try:
        outcome = handle(event, rotation_target or target)
    except Exception:
        # Secrets Manager records the failure and retries the rotation with the same token.
        logger.exception("key rotation step failed", extra={"step": step, "version": version})
        raise
    logger.info("key rotation step", extra={"step": step, "version": version, "outcome": outcome})
