"""Per-execution-environment wiring: settings, AWS clients and services, built once.

Handlers call these at import time (cold start), so a bad setting stops the
function at start-up with a clear message, and warm calls reuse every object.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stateless_auth.config import Settings, load_settings
from stateless_auth.errors import ConfigError, KeySetError
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
    """The published key set (a JWKS in the public key secret, which only the rotation
    function may write), read through the parameters and secrets extension."""
    secret_id = config.require("public_keys_secret_id")
    client = ExtensionClient()
    return PublicKeyStore(
        lambda: client.get_secret(secret_id), refresh_seconds=config.keys_refresh_seconds
    )


class PublishedIssuer:
    """The issuer the stack published in a secret, read through the extension.

    A secret, not an SSM parameter: its resource policy lets only CloudFormation change
    it (a changed issuer would deny every token and point discovery elsewhere).

    Read on first use (the extension may still be starting during init) and again every
    `refresh_seconds`, so a changed JwtIssuer reaches warm functions as the keys do; a
    failed re-read keeps the value it had.
    """

    def __init__(
        self,
        fetch: Callable[[], str],
        *,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._value = ""
        self._loaded_at = 0.0

    def __call__(self) -> str:
        now = self._clock()
        if self._value and now - self._loaded_at < self._refresh_seconds:
            return self._value
        with self._lock:
            try:
                value = self._fetch().strip().rstrip("/")
            except KeySetError:
                if self._value:
                    return self._value
                raise
            if not value.startswith(("https://", "http://")):
                if self._value:
                    return self._value
                raise KeySetError("the published issuer is not a URL")
            self._value, self._loaded_at = value, now
            return value


def issuer(config: Settings) -> Callable[[], str]:
    """The deployment's fixed `iss`: JWT_ISSUER, else the stack's issuer secret.

    Never the request's domain (CONTRACT §4), so a token verifies the same way on every
    domain and on every API that uses the exported authorizer.
    """
    if config.jwt_issuer:
        fixed = config.jwt_issuer
        return lambda: fixed
    secret_id = config.jwt_issuer_secret_id
    if not secret_id:
        raise ConfigError("JWT_ISSUER or JWT_ISSUER_SECRET_ID must be set for this function")
    client = ExtensionClient()
    return PublishedIssuer(
        lambda: client.get_secret(secret_id), refresh_seconds=config.keys_refresh_seconds
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
        sessions=SessionRepository(
            client,
            config.require("sessions_table"),
            users_table=config.require("users_table") if users else "",
        )
        if sessions
        else None,
        signing_key=signing_key_provider(config).current if signing else None,
    )
