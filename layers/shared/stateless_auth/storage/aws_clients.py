"""boto3 clients, made once per execution environment by the functions that need them.

boto3 is imported here, on first use, so that the functions that never call AWS APIs
directly (the authorizer, jwks, me) never import it.

Every client has the same retries and timeouts (`CLIENT_CONFIG`): botocore's standard
retry mode (throttling, 5xx and connection errors retried with jittered backoff, under
a client-side retry quota so an outage is not multiplied), 3 attempts in all, a 1 s
connect and a 1 s read timeout (a DynamoDB, SQS or SES call answers in milliseconds). A
call that keeps failing gives up within about 3 x (1 + 1) s plus the backoff (under 3 s):
under the functions' 10 s timeout, so the function itself answers 503 (storage/faults.py)
rather than being cut off by Lambda, and well under API Gateway's 30 s.
"""

from __future__ import annotations

from typing import Any, Literal

CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 1.0
MAX_ATTEMPTS = 3  # the first call and two retries
RETRY_MODE: Literal["standard"] = "standard"


def client_config() -> Any:
    """The botocore Config of every client: the retry mode and timeouts above."""
    from botocore.config import Config

    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": RETRY_MODE, "max_attempts": MAX_ATTEMPTS},
    )


def dynamodb_client() -> Any:
    """A DynamoDB client from boto3's default session."""
    import boto3

    return boto3.client("dynamodb", config=client_config())


def secrets_manager_client() -> Any:
    """A Secrets Manager client from boto3's default session (the rotation function)."""
    import boto3

    return boto3.client("secretsmanager", config=client_config())


def sqs_client() -> Any:
    """An SQS client from boto3's default session (the functions that queue mail)."""
    import boto3

    return boto3.client("sqs", config=client_config())


def sesv2_client() -> Any:
    """An SES (API v2) client from boto3's default session (the mailer)."""
    import boto3

    return boto3.client("sesv2", config=client_config())
