"""A small HTTP client for the tests that call an API over HTTP: the local API, a deployed
stack (http.client: no dependency, no retries).

While ``CHECK_OPENAPI`` is on, every call and its answer are checked against openapi.yaml
(tests/support/openapi.py): a route, status or shape the document does not describe
fails the test. tests/e2e/conftest.py turns it on for every end-to-end test
(``checking_openapi()``); ``OPENAPI_CHECKS=0`` in the environment turns it off.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import urllib.parse
from collections.abc import Iterator
from typing import Any

# The one switch (see the module's docstring).
CHECK_OPENAPI = False


@contextlib.contextmanager
def checking_openapi(enabled: bool = True) -> Iterator[None]:
    """Every Client call inside is checked against openapi.yaml (unless OPENAPI_CHECKS=0)."""
    global CHECK_OPENAPI
    saved = CHECK_OPENAPI
    CHECK_OPENAPI = enabled and os.environ.get("OPENAPI_CHECKS", "1") != "0"
    try:
        yield
    finally:
        CHECK_OPENAPI = saved


class Reply:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.raw = body

    def json(self) -> Any:
        return json.loads(self.raw)

    def cookies(self) -> list[str]:
        return self.headers.get_all("Set-Cookie") or []

    def refresh_cookie(self) -> str:
        for cookie in self.cookies():
            if cookie.startswith("__Host-refresh_token="):
                return cookie.split(";")[0].split("=", 1)[1]
        raise AssertionError(f"no refresh cookie in {self.cookies()}")


class Client:
    def __init__(self, base_url: str) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        self.https = parsed.scheme == "https"
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or (443 if self.https else 80)
        self.origin = base_url.rstrip("/")

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        raw: bytes | None = None,
    ) -> Reply:
        """A JSON call: the body encoded and `Content-Type: application/json` unless overridden."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        return self.send(
            method, path, data, {"Content-Type": "application/json", **(headers or {})}
        )

    def send(
        self,
        method: str,
        path: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Exactly these bytes and headers (no Content-Type unless given)."""
        connection = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = connection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=headers or {})
            reply = conn.getresponse()
            answer = Reply(reply.status, reply.headers, reply.read())
        finally:
            conn.close()
        if CHECK_OPENAPI:
            from tests.support import openapi  # openapi-core only where it is used

            openapi.check(
                self.origin,
                method,
                path,
                headers or {},
                data,
                answer.status,
                answer.headers,
                answer.raw,
            )
        return answer
