"""What every property test asserts of a handler's answer, and the log lines it collects
(as tests/handlers/test_log_hygiene.py does: a handler on the service's logger, with the
Powertools formatter, so a line is checked as CloudWatch would receive it)."""

from __future__ import annotations

import ast
import functools
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from tests.support.paths import ROOT

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


# The fields every Powertools line carries whatever the event: not the event's.
FRAMING_FIELDS = frozenset(
    {
        "level",
        "location",
        "timestamp",
        "service",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "sampling_rate",
        "xray_trace_id",
    }
)


@functools.cache
def code_literals() -> tuple[str, ...]:
    """Every string constant in the functions' and the layer's source. Hypothesis draws
    such constants on purpose (it mines the code under test), so an event's "password"
    may be "request refused"; a log line holding a constant of the code is not a leak."""
    found: set[str] = set()
    for root in (ROOT / "functions", ROOT / "layers" / "shared" / "stateless_auth"):
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found.add(node.value)
    return tuple(found)


def _event_part(line: str) -> str:
    """The line without its framing fields (as JSON text), or the line itself."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict):
        return line
    return json.dumps({k: v for k, v in record.items() if k not in FRAMING_FIELDS})


def assert_no_secret_logged(lines: Iterable[str], secrets: Iterable[str]) -> None:
    """No secret of the event in any line (its framing fields aside), raw or as JSON
    escapes it; a secret that is part of a string constant of the code is not one."""
    text = "\n".join(_event_part(line) for line in lines)
    for secret in secrets:
        if any(secret in literal for literal in code_literals()):
            continue
        assert secret not in text, f"a secret of the event reached a log line: {secret[:40]!r}"
        # the JSON log line escapes what it quotes: look for the escaped form too
        escaped = json.dumps(secret)[1:-1]
        assert escaped not in text, f"a secret of the event reached a log line: {secret[:40]!r}"
