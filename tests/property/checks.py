"""What every property test asserts of a handler's answer, and the log lines it collects
(as tests/handlers/test_log_hygiene.py does: a handler on the service's logger, with the
Powertools formatter, so a line is checked as CloudWatch would receive it)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

SERVICE_LOGGER = "stateless-auth"


class Collect(logging.Handler):
    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__()
        self.lines: list[str] = []
        if formatter is not None:
            self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def collected_logs() -> Iterator[Collect]:
    """Every line the service's loggers write while inside."""
    logger = logging.getLogger(SERVICE_LOGGER)
    existing = logger.handlers[0].formatter if logger.handlers else None
    collect = Collect(existing)
    logger.addHandler(collect)
    try:
        yield collect
    finally:
        logger.removeHandler(collect)


def assert_valid_http_reply(reply: Any, *, allow_503: bool = False) -> int:
    """A payload 2.0 response: statusCode < 500 (503 only where allowed), str headers,
    a str body that is JSON with "error" and "message" when the status is >= 400, and
    cookies a list of str. Returns the status."""
    assert isinstance(reply, dict), reply
    status = reply.get("statusCode")
    assert type(status) is int, reply
    assert 200 <= status < 500 or (allow_503 and status == 503), reply
    headers = reply.get("headers", {})
    assert isinstance(headers, Mapping), reply
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()), reply
    assert headers.get("Cache-Control"), reply
    assert reply.get("isBase64Encoded") is False, reply
    body = reply.get("body", "")
    assert isinstance(body, str), reply
    if "cookies" in reply:
        assert isinstance(reply["cookies"], list), reply
        assert all(isinstance(c, str) for c in reply["cookies"]), reply
    if status == 204:
        assert body == "", reply
    if body:
        assert headers.get("Content-Type") == "application/json", reply
        parsed = json.loads(body)
        assert isinstance(parsed, dict), reply
    if status >= 400:
        parsed = json.loads(body)
        assert isinstance(parsed.get("error"), str), reply
        assert parsed["error"], reply
        assert isinstance(parsed.get("message"), str), reply
        assert parsed["message"], reply
    return status


def assert_no_secret_logged(lines: Iterable[str], secrets: Iterable[str]) -> None:
    text = "\n".join(lines)
    for secret in secrets:
        assert secret not in text, f"a secret of the event reached a log line: {secret[:40]!r}"
        # the JSON log line escapes what it quotes: look for the escaped form too
        escaped = json.dumps(secret)[1:-1]
        assert escaped not in text, f"a secret of the event reached a log line: {secret[:40]!r}"
