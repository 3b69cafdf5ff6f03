"""What the browser tests share: finding Debian's Chromium (or skipping with the reason),
a tiny static web server for pages on other origins, and the local mailbox over HTTP.

Playwright drives the system's ``chromium`` with ``executable_path`` (Playwright's own
browser download is not used). Where no Chromium is found, every browser test module
is skipped at collection with the reason, which ``-ra`` prints: never a silent pass.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

PASSWORD = "correct horse battery staple"
REFRESH_COOKIE = "__Host-refresh_token"
# Generous on a busy 2-core machine: every login and signup hashes with argon2id.
TIMEOUT_MS = 20_000
MAIL_TIMEOUT_SECONDS = 20.0


def chromium_path() -> str | None:
    """$CHROMIUM, else ``chromium`` (Debian's package) or ``chromium-browser`` on PATH."""
    configured = os.environ.get("CHROMIUM", "").strip()
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    """The Chromium executable, or skip the calling test module with the reason."""
    path = chromium_path()
    if path is None:
        pytest.skip(
            "browser tests need Chromium: `apt-get install chromium` (Debian) or set "
            "CHROMIUM=/path/to/chromium; .ci/run installs it",
            allow_module_level=True,
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as error:  # pragma: no cover - playwright is in the dev pins
        pytest.skip(f"browser tests need playwright ({error})", allow_module_level=True)
    return path


class _StaticPages(http.server.BaseHTTPRequestHandler):
    """``/`` a blank page; ``/frame?src=<url>`` a page that frames ``src``."""

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        body = "<!doctype html><meta charset=utf-8><title>another origin</title>"
        if "src" in query:
            source = query["src"][0].replace('"', "%22")
            body += f'<iframe id="app" src="{source}"></iframe>'
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def static_server() -> Iterator[int]:
    """A page server on 127.0.0.1 (reachable as ``localhost`` too); yields its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StaticPages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_port)
    finally:
        server.shutdown()
        server.server_close()


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as reply:  # noqa: S310 - a loopback URL
        return json.loads(reply.read())


def post_json(url: str, body: dict[str, Any]) -> int:
    """POST ``body`` as JSON from no browser (no Origin): the status."""
    request = urllib.request.Request(  # noqa: S310 - a loopback URL
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def mail_link(api: str, to: str, path: str, *, count: int = 1) -> str:
    """The ``count``-th link (1: the oldest) with a ``#token=`` whose path ends with
    ``path`` in the mails to ``to``, waiting for it (GET /_localapi/mail?to=). (The
    notices link to the reset page too, without a token.)"""
    query = urllib.parse.urlencode({"to": to})
    deadline = time.monotonic() + MAIL_TIMEOUT_SECONDS
    while True:
        messages = _get_json(f"{api}/_localapi/mail?{query}")["messages"]
        links = [
            link
            for message in messages
            for link in message["links"]
            if urllib.parse.urlsplit(link).path.endswith(path) and "#token=" in link
        ]
        if len(links) >= count:
            return str(links[count - 1])
        if time.monotonic() > deadline:
            raise AssertionError(f"no {path} link #{count} to {to}: {messages!r}")
        time.sleep(0.05)


def verified_account(api: str, email: str, password: str = PASSWORD) -> None:
    """Sign ``email`` up and verify it over plain HTTP (for tests about something else)."""
    assert post_json(f"{api}/auth/signup", {"email": email, "password": password}) == 202
    link = mail_link(api, email, "/verify-email")
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).fragment)["token"][0]
    assert post_json(f"{api}/auth/verify-email", {"token": token}) == 200
