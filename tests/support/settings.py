"""The settings the functions get, with the names the tests use.

``FUNCTION_ENVIRONMENT`` is what template.yaml gives every function (its Globals and
parameter defaults, docs/configuration.md), with test names for the audience, issuer,
tables and secrets, and fake AWS credentials: nothing here can reach a real account.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from stateless_auth.config import Settings, load_settings

REGION = "us-east-1"
AUDIENCE = "stateless-auth-test"
ISSUER = "https://auth.example.test"  # the issuer the unit tests sign and verify with
PUBLIC_KEYS_SECRET_ID = "stateless-auth-test-public-keys"
EMAIL_FROM = "no-reply@stateless-auth.example.test"  # the sender the tests' SES identity is
APP_URL = "https://app.example.test"  # where the tests' mail links point

# Credentials and Region for boto3 (and moto); never the caller's own AWS configuration.
FAKE_AWS: Mapping[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}

FUNCTION_ENVIRONMENT: Mapping[str, str] = {
    **FAKE_AWS,
    "JWT_AUDIENCE": AUDIENCE,
    "JWT_ISSUER": "https://api.example.test",  # the host of the events/ files
    "ACCESS_TOKEN_TTL_SECONDS": "900",
    "REFRESH_TOKEN_TTL_SECONDS": "7776000",
    "MAX_FAILED_LOGINS": "5",
    "LOCKOUT_SECONDS": "300",
    "PASSWORD_MIN_LENGTH": "15",
    "ALLOWED_ORIGINS": "",
    "USERS_TABLE": "UsersTable",
    "SESSIONS_TABLE": "SessionsTable",
    "SIGNING_KEYS_SECRET_ID": "SigningKeysSecret",
    "PUBLIC_KEYS_SECRET_ID": PUBLIC_KEYS_SECRET_ID,
    "EMAIL_VERIFICATION": "required",
    "VERIFY_EMAIL_TTL_SECONDS": "86400",
    "PASSWORD_RESET_TTL_SECONDS": "1800",
    "MAX_EMAILS_PER_HOUR": "5",
    "EMAIL_FROM": EMAIL_FROM,
    "APP_URL": APP_URL,
    "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "2773",
    "POWERTOOLS_SERVICE_NAME": "stateless-auth",
    "POWERTOOLS_METRICS_NAMESPACE": "StatelessAuthTest",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}

SCRUBBED_PREFIXES = ("AWS_", "PYTHON", "POWERTOOLS_")


def function_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without AWS_*, PYTHON* and POWERTOOLS_* settings, plus
    FUNCTION_ENVIRONMENT and ``extra``: the environment of a function's process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    env.update(FUNCTION_ENVIRONMENT)
    env.update(extra or {})
    return env


def load_test_settings(**variables: str) -> Settings:
    """Settings as load_settings reads them, from the test audience and ``variables``."""
    return load_settings({"JWT_AUDIENCE": AUDIENCE, **variables})
