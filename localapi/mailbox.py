"""The local mailbox: every email the functions send through SES v2, as SES accepted it.

It listens on boto3's default session through botocore's public event system, so every
client made from that session afterwards (the functions' ``boto3.client("sesv2")``)
reports to it: ``before-parameter-build.sesv2.SendEmail`` keeps the call's parameters in
the call's own context, ``after-call.sesv2.SendEmail`` records them only when SES (moto)
answered a MessageId. Nothing reads moto's internals, and a refused send is not in it.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BEFORE_SEND = "before-parameter-build.sesv2.SendEmail"
AFTER_SEND = "after-call.sesv2.SendEmail"
_CONTEXT_KEY = "localapi_mailbox_params"
_HANDLER_ID = "localapi-mailbox"
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}"


def links_in(text: str) -> list[str]:
    """The http(s) URLs in ``text``, in order, without a sentence's trailing punctuation."""
    links: list[str] = []
    for match in _URL.finditer(text):
        link = match.group(0).rstrip(_TRAILING)
        if link not in links:
            links.append(link)
    return links


def tokens_in(links: Iterable[str]) -> list[str]:
    """The ``token=`` values of the links' fragments (where the service puts them)."""
    tokens: list[str] = []
    for link in links:
        for name, value in parse_qsl(urlsplit(link).fragment, keep_blank_values=False):
            if name == "token" and value not in tokens:
                tokens.append(value)
    return tokens


def _text(data: Any) -> str:
    return str(data.get("Data", "")) if isinstance(data, dict) else ""


def message_from(params: dict[str, Any], message_id: str, sent_at: datetime) -> dict[str, Any]:
    """A mailbox entry from SendEmail's parameters (Simple content: text, else HTML)."""
    simple = (params.get("Content") or {}).get("Simple") or {}
    body = simple.get("Body") or {}
    text = _text(body.get("Text")) or _text(body.get("Html"))
    recipients = list((params.get("Destination") or {}).get("ToAddresses") or [])
    links = links_in(text)
    return {
        "id": message_id,
        "to": ", ".join(recipients),
        "subject": _text(simple.get("Subject")),
        "text": text,
        "sent_at": sent_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "links": links,
        "tokens": tokens_in(links),
        # for filtering; not served
        "_recipients": recipients,
        "_from": params.get("FromEmailAddress", ""),
    }


class Mailbox:
    """The mails sent since start-up (thread-safe), fed by ``listen(session)``."""

    def __init__(self, on_mail: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._on_mail = on_mail
        self._emitters: list[Any] = []

    # -- botocore events ----------------------------------------------------------------

    def listen(self, session: Any) -> None:
        """Capture the SendEmail calls of every client ``session`` (a boto3 Session) makes
        from now on."""
        events = session.events
        # botocore's unique ids are per emitter, not per event
        events.register(BEFORE_SEND, self._before_send, unique_id=f"{_HANDLER_ID}-before")
        events.register(AFTER_SEND, self._after_send, unique_id=f"{_HANDLER_ID}-after")
        self._emitters.append(events)

    def stop_listening(self) -> None:
        for events in self._emitters:
            events.unregister(BEFORE_SEND, unique_id=f"{_HANDLER_ID}-before")
            events.unregister(AFTER_SEND, unique_id=f"{_HANDLER_ID}-after")
        self._emitters.clear()

    def _before_send(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_CONTEXT_KEY] = copy.deepcopy(params)

    def _after_send(
        self, parsed: dict[str, Any], context: dict[str, Any], http_response: Any = None, **_: Any
    ) -> None:
        params = context.pop(_CONTEXT_KEY, None)
        status = getattr(http_response, "status_code", 200)
        message_id = parsed.get("MessageId") if isinstance(parsed, dict) else None
        if params is None or not message_id or not 200 <= int(status) < 300:
            return
        self.add(message_from(params, str(message_id), datetime.now(UTC)))

    # -- the mailbox --------------------------------------------------------------------

    def add(self, message: dict[str, Any]) -> None:
        with self._lock:
            self._messages.append(message)
        if self._on_mail is not None:
            self._on_mail(public(message))

    def messages(
        self, to: str | None = None, *, normalise: Callable[[str], str] = str.lower
    ) -> list[dict[str, Any]]:
        """Oldest first; ``to``: only those to that address (both sides ``normalise``d)."""
        with self._lock:
            messages = list(self._messages)
        if to is not None:
            wanted = normalise(to)
            messages = [
                m
                for m in messages
                if wanted in {_normalised(r, normalise) for r in m["_recipients"]}
            ]
        return [public(message) for message in messages]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._messages)


def _normalised(address: str, normalise: Callable[[str], str]) -> str:
    try:
        return normalise(address)
    except Exception:  # an address the service would not send to: compare as it is
        return address


def public(message: dict[str, Any]) -> dict[str, Any]:
    """What ``GET /_localapi/mail`` shows of a message."""
    return {key: copy.deepcopy(value) for key, value in message.items() if not key.startswith("_")}
