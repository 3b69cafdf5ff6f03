"""The local API's mailbox over HTTP (CONTRACT §2: ``GET``/``DELETE /_localapi/mail``),
for the end-to-end tests and the bench: wait for a mail to an address, its one-time
tokens, and sign up and verify an account in one call.

Mails arrive asynchronously: the request queues a job, the local API's in-process mailer
sends it a moment later (docs/email.md, "Locally"). Everything here polls the mailbox
with a deadline, never sleeps a fixed time.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

from tests.support.http_client import Client, Reply

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
