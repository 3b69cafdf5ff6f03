"""Per-function construction: key stores, the issuer and the repositories, from settings.

Handler modules call these once, at import (the cold start), with the settings they
loaded themselves, so a bad setting stops the function at start-up with a clear message
and warm calls reuse every object. Nothing here is cached process-wide.

The authorizer and jwks import this module too: the DynamoDB repositories (and botocore)
are imported only by the functions that build them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stateless_auth.config import Settings
from stateless_auth.domain.errors import ConfigError
from stateless_auth.storage.secrets_extension import ExtensionClient
from stateless_auth.tokens.issuer import PublishedIssuer
from stateless_auth.tokens.keys import PublicKeyStore, SigningKeyProvider

if TYPE_CHECKING:
    from stateless_auth.storage.mail_log import MailLogRepository
    from stateless_auth.storage.mail_queue import SqsMailQueue
    from stateless_auth.storage.ses_mail import SesMailSender
    from stateless_auth.storage.sessions import SessionRepository
    from stateless_auth.storage.users import UserRepository


def public_key_store(settings: Settings) -> PublicKeyStore:
    """The published key set (a JWKS in the public key secret, which only the rotation
    function may write), read through the parameters and secrets extension on first use."""
    secret_id = settings.require("public_keys_secret_id")
    client = ExtensionClient()
    return PublicKeyStore(
        lambda: client.get_secret(secret_id), refresh_seconds=settings.keys_refresh_seconds
    )


def issuer(settings: Settings) -> Callable[[], str]:
    """The deployment's fixed `iss`: JWT_ISSUER, else the stack's issuer secret.

    Never the request's domain (docs/tokens.md "Issuer"), so a token verifies the same
    way on every domain and on every API that uses the exported authorizer.
    """
    if settings.jwt_issuer:
        fixed = settings.jwt_issuer
        return lambda: fixed
    secret_id = settings.jwt_issuer_secret_id
    if not secret_id:
        raise ConfigError("JWT_ISSUER or JWT_ISSUER_SECRET_ID must be set for this function")
    client = ExtensionClient()
    return PublishedIssuer(
        lambda: client.get_secret(secret_id), refresh_seconds=settings.keys_refresh_seconds
    )


def signing_key_provider(settings: Settings) -> SigningKeyProvider:
    """The private key set, read through the parameters and secrets extension."""
    secret_id = settings.require("signing_keys_secret_id")
    client = ExtensionClient()
    return SigningKeyProvider(
        lambda: client.get_secret(secret_id), refresh_seconds=settings.keys_refresh_seconds
    )


def user_repository(settings: Settings, dynamodb: Any) -> UserRepository:
    """The users table (USERS_TABLE) through a DynamoDB client."""
    from stateless_auth.storage.users import UserRepository

    return UserRepository(dynamodb, settings.require("users_table"))


def session_repository(settings: Settings, dynamodb: Any) -> SessionRepository:
    """The sessions table (SESSIONS_TABLE) through a DynamoDB client. It also knows the
    users table: opening a session and rotating check the account there, and login's
    resets the email's failure count in the same write."""
    from stateless_auth.storage.sessions import SessionRepository

    return SessionRepository(
        dynamodb, settings.require("sessions_table"), users_table=settings.require("users_table")
    )


def mail_queue(settings: Settings, sqs: Any) -> SqsMailQueue:
    """The mail queue (MAIL_QUEUE_URL) through an SQS client."""
    from stateless_auth.storage.mail_queue import SqsMailQueue

    return SqsMailQueue(sqs, settings.require("mail_queue_url"))


def mail_log(settings: Settings, dynamodb: Any) -> MailLogRepository:
    """The per-address mail counts, in the users table."""
    from stateless_auth.storage.mail_log import MailLogRepository

    return MailLogRepository(dynamodb, settings.require("users_table"))


def mail_sender(settings: Settings, sesv2: Any) -> SesMailSender:
    """SES v2 from EMAIL_FROM; the mailer also needs APP_URL for its links."""
    from stateless_auth.storage.ses_mail import SesMailSender

    settings.require("app_url")
    return SesMailSender(sesv2, settings.require("email_from"))
