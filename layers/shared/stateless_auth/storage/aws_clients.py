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
