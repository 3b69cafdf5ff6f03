"""boto3 clients, made once per execution environment by the functions that need them.

boto3 is imported here, on first use, so that the functions that never call AWS APIs
directly (the authorizer, jwks, me) never import it.
"""

from __future__ import annotations

from typing import Any


def dynamodb_client() -> Any:
    """A DynamoDB client from boto3's default session."""
    import boto3

    return boto3.client("dynamodb")


def secrets_manager_client() -> Any:
    """A Secrets Manager client from boto3's default session (the rotation function)."""
    import boto3

    return boto3.client("secretsmanager")


def sqs_client() -> Any:
    """An SQS client from boto3's default session (the functions that queue mail)."""
    import boto3

    return boto3.client("sqs")


def sesv2_client() -> Any:
    """An SES (API v2) client from boto3's default session (the mailer)."""
    import boto3

    return boto3.client("sesv2")
