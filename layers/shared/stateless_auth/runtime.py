"""Per-execution-environment wiring: settings, AWS clients and services, built once.

Handlers call these at import time (cold start), so a bad setting stops the
function at start-up with a clear message, and warm calls reuse every object.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from stateless_auth.config import Settings, load_settings
from stateless_auth.extension import ExtensionClient
from stateless_auth.keys import PublicKeyStore, SigningKeyProvider

if TYPE_CHECKING:
    from stateless_auth.service import AuthService


@functools.cache
def settings() -> Settings:
    return load_settings()


def dynamodb_client() -> Any:
    import boto3  # only the functions that use DynamoDB pay for boto3

    return boto3.client("dynamodb")


def public_key_store(config: Settings) -> PublicKeyStore:
    """The published key set, read through the parameters and secrets extension."""
    name = config.require("public_keys_parameter")
    client = ExtensionClient()
    return PublicKeyStore(
        lambda: client.get_parameter(name), refresh_seconds=config.keys_refresh_seconds
    )


def signing_key_provider(config: Settings) -> SigningKeyProvider:
    """The private key set, read through the parameters and secrets extension."""
    secret_id = config.require("signing_keys_secret_id")
    client = ExtensionClient()
    return SigningKeyProvider(
        lambda: client.get_secret(secret_id), refresh_seconds=config.keys_refresh_seconds
    )


def auth_service(
    *, users: bool = False, sessions: bool = False, signing: bool = False
) -> AuthService:
    """An AuthService with just the dependencies a function needs."""
    # Imported here so that the authorizer and jwks, which never call this, stay light.
    from stateless_auth.service import AuthService
    from stateless_auth.sessions import SessionRepository
    from stateless_auth.users import UserRepository

    config = settings()
    client = dynamodb_client() if users or sessions else None
    return AuthService(
        config,
        users=UserRepository(client, config.require("users_table")) if users else None,
        sessions=SessionRepository(client, config.require("sessions_table")) if sessions else None,
        signing_key=signing_key_provider(config).current if signing else None,
    )
