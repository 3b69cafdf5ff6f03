"""Payload 2.0 responses: a JSON body (or none), never cached."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


def response(
    status: int,
    body: Mapping[str, Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    cookies: list[str] | None = None,
) -> dict[str, Any]:
    """A payload 2.0 response; JSON body unless `body` is None (e.g. 204)."""
    result: dict[str, Any] = {
        "statusCode": status,
        "headers": {**JSON_HEADERS, **(headers or {})},
        "isBase64Encoded": False,
        "body": "" if body is None else json.dumps(body, separators=(",", ":")),
    }
    if body is None:
        result["headers"].pop("Content-Type")
    if cookies:
        result["cookies"] = cookies
    return result
