"""CORS of the real template over HTTP: ALLOWED_ORIGINS reaches the handlers and, through
the AllowedOrigins parameter, the HTTP API's CorsConfiguration, as a deploy with that
parameter would."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from localapi.testing import LocalApiFailed, running_local_api
from tests.support.http_client import Client

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("localapi")]
APP = "https://app.example.com"
DEV = "http://localhost:5173"


def call(
    base_url: str, method: str, path: str, headers: dict[str, str], body: Any = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    data = None if body is None else json.dumps(body).encode()
    reply = Client(base_url).send(method, path, data, headers)
    return reply.status, reply.headers, reply.raw


def preflight(base_url: str, origin: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    return call(
        base_url,
        "OPTIONS",
        "/auth/refresh",
        {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )


def test_browser_apps_in_allowed_origins_get_cors_with_credentials() -> None:
    env = {"ALLOWED_ORIGINS": f"{APP}, {DEV}", "JWKS_MAX_AGE_SECONDS": "120"}
    with running_local_api(env=env) as base_url:
        for origin in (APP, DEV):
            status, headers, _ = preflight(base_url, origin)
            assert status == 204
            assert headers["Access-Control-Allow-Origin"] == origin  # never "*"
            assert headers["Access-Control-Allow-Credentials"] == "true"
            assert headers["Access-Control-Allow-Methods"] == "GET,POST,DELETE,OPTIONS"
            assert headers["Access-Control-Allow-Headers"] == "authorization,content-type"
            assert headers["Access-Control-Max-Age"] == "600"
        status, headers, _ = preflight(base_url, "https://evil.example")
        assert status == 204
        assert "Access-Control-Allow-Origin" not in headers

        # the handlers read the same list: a cookie refresh from the app is not cross-site
        cookie = {"Cookie": "__Host-refresh_token=not-a-real-token"}
        status, headers, body = call(base_url, "POST", "/auth/refresh", {"Origin": APP, **cookie})
        assert (status, json.loads(body)["error"]) == (401, "invalid_token")
        assert headers["Access-Control-Allow-Origin"] == APP
        status, headers, body = call(
            base_url, "POST", "/auth/refresh", {"Origin": "https://evil.example", **cookie}
        )
        assert (status, json.loads(body)["error"]) == (403, "cross_site_request")
        assert "Access-Control-Allow-Origin" not in headers

        status, headers, _ = call(base_url, "GET", "/.well-known/jwks.json", {"Origin": APP})
        assert status == 200
        assert headers["Cache-Control"] == "public, max-age=120"


def test_a_jwks_max_age_out_of_range_stops_the_start() -> None:
    with (
        pytest.raises(LocalApiFailed, match=r"JWKS_MAX_AGE_SECONDS=99999 is out of range"),
        running_local_api(env={"JWKS_MAX_AGE_SECONDS": "99999"}),
    ):
        pass
