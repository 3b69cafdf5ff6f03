"""Key rotation over HTTP in the local API: POST /_localapi/rotate-keys runs the same four
rotation steps in process; the functions pick the new set up as in Lambda."""

from __future__ import annotations

import base64
import http.client
import json
import time
import urllib.parse
from typing import Any

import pytest

from localapi.testing import running_local_api
from tests.support.http_client import Client
from tests.support.local_mail import sign_up_and_verify

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("rotation-e2e")]
PASSWORD = "correct horse battery staple"
REFRESH = 1  # KEYS_REFRESH_SECONDS: how long functions keep a key set before re-reading


class Api:
    def __init__(self, base_url: str) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, http.client.HTTPMessage, Any]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        try:
            connection.request(method, path, body=data, headers=headers)
            reply = connection.getresponse()
            raw = reply.read()
            return reply.status, reply.headers, json.loads(raw) if raw else None
        finally:
            connection.close()

    def login(self) -> str:
        status, _, body = self.call(
            "POST",
            "/auth/login",
            {"email": "ann@example.com", "password": PASSWORD, "refresh_token_delivery": "body"},
        )
        assert status == 200, body
        return str(body["access_token"])

    def me(self, token: str) -> int:
        return self.call("GET", "/me", token=token)[0]

    def rotate(self) -> dict[str, str]:
        status, _, body = self.call("POST", "/_localapi/rotate-keys")
        assert status == 200, body
        assert body["rotated"] is True
        return dict(body["kids"])

    def jwks_kids(self) -> set[str]:
        status, headers, body = self.call("GET", "/.well-known/jwks.json")
        assert status == 200
        assert headers["Cache-Control"] == "public, max-age=3600"
        return {key["kid"] for key in body["keys"]}


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def settle() -> None:
    """Let every function's cached key set go stale (KEYS_REFRESH_SECONDS)."""
    time.sleep(REFRESH + 0.2)


def test_rotation_in_the_local_api_keeps_tokens_in_flight_until_their_key_leaves() -> None:
    with running_local_api(env={"KEYS_REFRESH_SECONDS": str(REFRESH)}) as base_url:
        api = Api(base_url)
        assert "POST /_localapi/rotate-keys rotates them" in base_url.stderr()
        status, headers, body = api.call("GET", "/_localapi/rotate-keys")
        assert (status, headers["Allow"], body) == (405, "POST", {"message": "Method Not Allowed"})
        assert api.call("POST", "/_localapi/nothing-here")[0] == 404
        sign_up_and_verify(Client(base_url), "ann@example.com", PASSWORD)

        first = api.login()
        initial = api.jwks_kids()
        assert kid_of(first) in initial
        assert len(initial) == 3

        kids = api.rotate()
        assert kids["previous"] == kid_of(first)
        assert kids["current"] in initial  # the old next key: every verifier knew it
        assert api.me(first) == 200  # signed before the rotation: still accepted
        settle()
        second = api.login()
        assert kid_of(second) == kids["current"]  # new logins sign with the new current key
        assert api.jwks_kids() == set(kids.values())
        assert api.me(second) == 200

        api.rotate()
        settle()
        assert api.me(first) == 403  # its key has left the set
        assert api.me(second) == 200  # signed before this rotation: still accepted

        latest = api.rotate()
        settle()
        assert api.me(second) == 403
        third = api.login()
        assert kid_of(third) == latest["current"]
        assert api.me(third) == 200
        assert api.jwks_kids() == set(latest.values())
