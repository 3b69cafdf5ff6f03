"""A small HTTP client for the tests that call an API over HTTP: the local API, a deployed
stack (http.client: no dependency, no retries)."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import Any


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
            return Reply(reply.status, reply.headers, reply.read())
        finally:
            conn.close()
