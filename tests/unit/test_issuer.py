"""Issue 8 finding 3: one fixed issuer per deployment, never taken from a request."""

from __future__ import annotations

import pytest

from stateless_auth import wiring
from stateless_auth.config import load_settings
from stateless_auth.domain.errors import ConfigError, KeySetError
from stateless_auth.tokens.issuer import PublishedIssuer
from tests.support.clock import Clock
from tests.support.settings import AUDIENCE


def test_jwt_issuer_wins_and_is_never_read_from_elsewhere() -> None:
    settings = load_settings(
        {
            "JWT_AUDIENCE": AUDIENCE,
            "JWT_ISSUER": "https://auth.example.com/",
            "JWT_ISSUER_SECRET_ID": "stack-issuer",
        }
    )
    assert wiring.issuer(settings)() == "https://auth.example.com"


def test_a_function_without_either_setting_stops_at_start_up() -> None:
    settings = load_settings({"JWT_AUDIENCE": AUDIENCE})
    with pytest.raises(ConfigError, match="JWT_ISSUER"):
        wiring.issuer(settings)


def test_the_published_issuer_is_read_once_and_again_on_schedule() -> None:
    clock = Clock()
    values = ["https://abc.execute-api.us-east-1.amazonaws.com/"]
    reads: list[int] = []

    def fetch() -> str:
        reads.append(1)
        return values[0]

    issuer = PublishedIssuer(fetch, refresh_seconds=300, clock=clock)
    assert issuer() == "https://abc.execute-api.us-east-1.amazonaws.com"
    assert issuer() == issuer()
    assert len(reads) == 1
    values[0] = "https://auth.example.com"
    clock.now += 301
    assert issuer() == "https://auth.example.com"
    assert len(reads) == 2


def test_a_failed_re_read_keeps_the_issuer_a_first_failure_raises() -> None:
    clock = Clock()
    state = {"fail": True}

    def fetch() -> str:
        if state["fail"]:
            raise KeySetError("the extension is unreachable")
        return "https://auth.example.com"

    issuer = PublishedIssuer(fetch, refresh_seconds=300, clock=clock)
    with pytest.raises(KeySetError):
        issuer()
    state["fail"] = False
    assert issuer() == "https://auth.example.com"
    state["fail"] = True
    clock.now += 301
    assert issuer() == "https://auth.example.com"


def test_a_published_value_that_is_not_a_url_is_refused() -> None:
    issuer = PublishedIssuer(lambda: "evil", refresh_seconds=300, clock=Clock())
    with pytest.raises(KeySetError):
        issuer()
