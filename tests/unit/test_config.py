"""Settings: defaults, ranges and clear errors (docs/configuration.md)."""

from __future__ import annotations

import pytest

from stateless_auth.config import load_settings
from stateless_auth.domain.errors import ConfigError

BASE = {"JWT_AUDIENCE": "aud"}


def test_defaults_match_the_contract() -> None:
    s = load_settings(BASE)
    assert (s.access_token_ttl, s.refresh_token_ttl) == (900, 7776000)
    assert (s.max_failed_logins, s.lockout_seconds, s.password_min_length) == (5, 300, 15)
    assert s.allowed_origins == frozenset()
    assert s.jwt_issuer == ""


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ACCESS_TOKEN_TTL_SECONDS", "0"),
        ("ACCESS_TOKEN_TTL_SECONDS", "86401"),
        ("ACCESS_TOKEN_TTL_SECONDS", "15m"),
        ("REFRESH_TOKEN_TTL_SECONDS", "31536001"),
        ("MAX_FAILED_LOGINS", "101"),
        ("LOCKOUT_SECONDS", "-1"),
        ("PASSWORD_MIN_LENGTH", "7"),
        ("PASSWORD_MIN_LENGTH", "65"),
        ("PASSWORD_MIN_LENGTH", "1.5"),
        ("ALLOWED_ORIGINS", "*"),
        ("ALLOWED_ORIGINS", "example.com"),
        ("JWT_ISSUER", "not a url"),
        ("JWKS_MAX_AGE_SECONDS", "21601"),
        ("KEYS_REFRESH_SECONDS", "0"),
    ],
)
def test_bad_values_stop_start_up_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({**BASE, name: value})


def test_missing_audience_is_an_error() -> None:
    with pytest.raises(ConfigError, match="JWT_AUDIENCE"):
        load_settings({})


def test_values_parse_and_origins_normalise() -> None:
    s = load_settings(
        {
            **BASE,
            "ACCESS_TOKEN_TTL_SECONDS": "60",
            "ALLOWED_ORIGINS": "https://App.example.com/, http://localhost:5173",
            "JWT_ISSUER": "https://auth.example.com/",
        }
    )
    assert s.access_token_ttl == 60
    assert s.allowed_origins == {"https://app.example.com", "http://localhost:5173"}
    assert s.jwt_issuer == "https://auth.example.com"


def test_require_names_the_missing_resource() -> None:
    with pytest.raises(ConfigError, match="USERS_TABLE"):
        load_settings(BASE).require("users_table")


# --- email (CONTRACT §6) -------------------------------------------------------------


def test_email_defaults_match_the_contract() -> None:
    s = load_settings(BASE)
    assert s.email_verification_required is True
    assert (s.verify_email_ttl, s.password_reset_ttl, s.max_emails_per_hour) == (86400, 1800, 5)
    assert (s.email_from, s.app_url, s.mail_queue_url) == ("", "", "")


@pytest.mark.parametrize(
    ("value", "required"),
    [("required", True), ("optional", False), ("Optional ", False), ("", True)],
)
def test_email_verification_modes(value: str, required: bool) -> None:
    assert (
        load_settings({**BASE, "EMAIL_VERIFICATION": value}).email_verification_required is required
    )


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("VERIFY_EMAIL_TTL_SECONDS", 300, 604800),
        ("PASSWORD_RESET_TTL_SECONDS", 300, 86400),
        ("MAX_EMAILS_PER_HOUR", 1, 100),
    ],
)
def test_email_ranges_are_inclusive(name: str, low: int, high: int) -> None:
    for value in (low, high):
        load_settings({**BASE, name: str(value)})
    for value in (low - 1, high + 1):
        with pytest.raises(ConfigError, match=name):
            load_settings({**BASE, name: str(value)})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EMAIL_VERIFICATION", "off"),
        ("EMAIL_VERIFICATION", "true"),
        ("VERIFY_EMAIL_TTL_SECONDS", "1d"),
        ("MAX_EMAILS_PER_HOUR", "0"),
        ("EMAIL_FROM", "no-reply"),
        ("EMAIL_FROM", "no reply@example.com"),
        ("EMAIL_FROM", "a@b@example.com"),
        ("EMAIL_FROM", "@example.com"),
        ("EMAIL_FROM", "no-reply@"),
        ("APP_URL", "app.example.com"),
        ("APP_URL", "ftp://app.example.com"),
        ("APP_URL", "https://app.example.com/?next=1"),
        ("APP_URL", "https://app.example.com/#x"),
        ("APP_URL", "https://app example.com"),
        ("APP_URL", "https://"),
    ],
)
def test_bad_email_values_stop_start_up_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({**BASE, name: value})


def test_email_values_parse() -> None:
    s = load_settings(
        {
            **BASE,
            "EMAIL_VERIFICATION": "optional",
            "VERIFY_EMAIL_TTL_SECONDS": "600",
            "PASSWORD_RESET_TTL_SECONDS": "900",
            "MAX_EMAILS_PER_HOUR": "2",
            "EMAIL_FROM": " no-reply@example.com ",
            "APP_URL": "https://app.example.com/auth/",
            "MAIL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/MailQueue",
        }
    )
    assert s.email_verification_required is False
    assert (s.verify_email_ttl, s.password_reset_ttl, s.max_emails_per_hour) == (600, 900, 2)
    assert s.email_from == "no-reply@example.com"
    assert s.app_url == "https://app.example.com/auth"  # no trailing slash: links append paths
    assert s.mail_queue_url.endswith("/MailQueue")


@pytest.mark.parametrize("attribute", ["app_url", "email_from", "mail_queue_url"])
def test_require_names_the_missing_email_setting(attribute: str) -> None:
    with pytest.raises(ConfigError, match=attribute.upper()):
        load_settings(BASE).require(attribute)
