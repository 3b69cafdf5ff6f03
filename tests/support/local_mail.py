"""The local API's mailbox over HTTP (CONTRACT §2: ``GET``/``DELETE /_localapi/mail``),
for the end-to-end tests and the bench: wait for a mail to an address, its one-time
tokens, and sign up and verify an account in one call; and a ``Device``, a client with
its own User-Agent and cookie jar (the refresh cookie) and the access token it holds.

Mails arrive asynchronously: the request queues a job, the local API's in-process mailer
sends it a moment later (docs/email.md, "Locally"). Everything here polls the mailbox
with a deadline, never sleeps a fixed time.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any

from tests.support.http_client import Client, Reply

REFRESH_COOKIE = "__Host-refresh_token"
MAIL_PATH = "/_localapi/mail"
MAIL_JOBS_PATH = "/_localapi/mail-jobs"
MAX_MAIL_JOBS_WAIT_SECONDS = 60.0  # what the local API allows
DEFAULT_TIMEOUT_SECONDS = 20.0
POLL_SECONDS = 0.05

Message = dict[str, Any]


def messages(client: Client, to: str | None = None) -> list[Message]:
    """Every mail sent since start-up (or the last ``clear``), oldest first; ``to``: only
    those to that address, compared as the service compares emails."""
    path = MAIL_PATH if to is None else f"{MAIL_PATH}?{urllib.parse.urlencode({'to': to})}"
    reply = client.send("GET", path)
    assert reply.status == 200, (reply.status, reply.raw)
    return list(reply.json()["messages"])


def clear(client: Client) -> None:
    """Empty the mailbox (``DELETE /_localapi/mail``)."""
    reply = client.send("DELETE", MAIL_PATH)
    assert reply.status == 204, (reply.status, reply.raw)


def wait_for_mail(
    client: Client, to: str, *, count: int = 1, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> list[Message]:
    """The mails to ``to`` once there are at least ``count`` of them (all of them, oldest
    first); AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = messages(client, to)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{len(found)} mail(s) to {to} after {timeout:g}s, expected {count}: {found!r}"
            )
        time.sleep(POLL_SECONDS)


def token_of(message: Message) -> str:
    """The one one-time token a mail carries; AssertionError if it has none or several."""
    tokens = list(message["tokens"])
    assert len(tokens) == 1, f"expected one token in {message!r}"
    return str(tokens[0])


def wait_for_token(
    client: Client, to: str, *, count: int = 1, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> str:
    """The token of the ``count``-th mail to ``to`` (1: the first), once it is there."""
    return token_of(wait_for_mail(client, to, count=count, timeout=timeout)[count - 1])


def settle(client: Client, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
    """Return once every mail job queued before this call has been handled (sent,
    suppressed or skipped): ``GET /_localapi/mail-jobs?wait=<timeout>`` answers
    ``{"drained": true}``. AssertionError if the queue is still busy after ``timeout``."""
    wait = min(timeout, MAX_MAIL_JOBS_WAIT_SECONDS)
    reply = client.send("GET", f"{MAIL_JOBS_PATH}?wait={wait:g}")
    assert reply.status == 200, (reply.status, reply.raw)
    assert reply.json() == {"drained": True}, f"mail jobs still queued after {wait:g}s"


def sign_up(client: Client, email: str, password: str) -> Reply:
    """``POST /auth/signup``; asserts its 202."""
    reply = client.call("POST", "/auth/signup", {"email": email, "password": password})
    assert reply.status == 202, (reply.status, reply.raw)
    return reply


def verify(client: Client, token: str) -> Reply:
    """``POST /auth/verify-email`` with ``token``."""
    return client.call("POST", "/auth/verify-email", {"token": token})


def unique_address(label: str) -> str:
    """An address no other test (or run) uses: the local APIs, and their mail limits,
    are shared by many tests."""
    return f"{label}-{uuid.uuid4().hex[:10]}@example.com"


def verified_account(client: Client, label: str, password: str) -> str:
    """A new verified account's email (`unique_address(label)`)."""
    email = unique_address(label)
    sign_up_and_verify(client, email, password)
    return email


def sign_up_and_verify(
    client: Client, email: str, password: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> dict[str, Any]:
    """Sign ``email`` up with ``password``, follow the verification link it gets and
    return the verification's answer ``{"user_id", "email", "email_verified": true}``.

    Waits for a mail after those already in the mailbox for the address, so it also
    works for an address that got mail before (a never-verified account it replaces).
    """
    before = len(messages(client, email))
    sign_up(client, email, password)
    token = wait_for_token(client, email, count=before + 1, timeout=timeout)
    reply = verify(client, token)
    assert reply.status == 200, (reply.status, reply.raw)
    body: dict[str, Any] = reply.json()
    assert body["email_verified"] is True, body
    return body


@dataclass
class Device:
    """One browser, say: its User-Agent, its cookie jar (the refresh cookie, kept and
    cleared as the replies' ``Set-Cookie`` say) and the access token it last got.

    Every call sends the User-Agent, the cookie if it holds one and, with ``auth``, the
    access token as ``Authorization: Bearer``."""

    client: Client
    user_agent: str
    refresh_token: str | None = None
    access_token: str | None = None

    def headers(self, *, auth: bool = False, extra: dict[str, str] | None = None) -> dict[str, str]:
        sent = {"User-Agent": self.user_agent}
        if self.refresh_token is not None:
            sent["Cookie"] = f"{REFRESH_COOKIE}={self.refresh_token}"
        if auth and self.access_token is not None:
            sent["Authorization"] = f"Bearer {self.access_token}"
        return {**sent, **(extra or {})}

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """A JSON call from this device (``body`` None: no body, no Content-Type)."""
        sent = self.headers(auth=auth, extra=headers)
        if body is None:
            reply = self.client.send(method, path, None, sent)
        else:
            reply = self.client.call(method, path, body, sent)
        self._keep_cookie(reply)
        if reply.status == 200 and reply.raw:
            answer = reply.json()
            if isinstance(answer, dict) and "access_token" in answer:
                self.access_token = str(answer["access_token"])
        return reply

    def _keep_cookie(self, reply: Reply) -> None:
        for cookie in reply.cookies():
            name, _, rest = cookie.partition("=")
            if name == REFRESH_COOKIE:
                value = rest.split(";")[0]
                self.refresh_token = value or None

    def log_in(self, email: str, password: str) -> Reply:
        """``POST /auth/login`` (cookie delivery); the cookie and access token kept."""
        return self.call("POST", "/auth/login", {"email": email, "password": password}, auth=False)

    def refresh(self) -> Reply:
        """``POST /auth/refresh`` with the cookie; the new cookie and access token kept."""
        return self.call("POST", "/auth/refresh", auth=False)

    def refresh_with(self, refresh_token: str) -> Reply:
        """``POST /auth/refresh`` with another cookie value, leaving this jar alone."""
        return self.client.send(
            "POST",
            "/auth/refresh",
            None,
            {"User-Agent": self.user_agent, "Cookie": f"{REFRESH_COOKIE}={refresh_token}"},
        )

    def claims(self) -> dict[str, Any]:
        """The claims of the access token held (unverified: the tests' own token)."""
        assert self.access_token is not None, "this device holds no access token"
        return claims_of(self.access_token)


def claims_of(access_token: str) -> dict[str, Any]:
    """An access token's claims, read without verifying it."""
    payload = access_token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def logged_in_device(client: Client, email: str, password: str, user_agent: str) -> Device:
    """A ``Device`` with ``user_agent`` logged in as ``email``; asserts the 200."""
    device = Device(client, user_agent)
    reply = device.log_in(email, password)
    assert reply.status == 200, (reply.status, reply.raw)
    assert device.refresh_token, reply.cookies()
    assert device.access_token, reply.raw
    return device
