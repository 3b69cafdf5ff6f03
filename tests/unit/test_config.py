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
