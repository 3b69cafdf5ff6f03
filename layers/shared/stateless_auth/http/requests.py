"""Reading an API Gateway HTTP API (payload 2.0) request: the event, its headers and
cookies, the body (size limit, base64, JSON) and its fields."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth.domain.errors import InvalidRequest
from stateless_auth.http.errors import PayloadTooLarge

MAX_BODY_BYTES = 16 * 1024


def parse_event(event: Mapping[str, Any]) -> APIGatewayProxyEventV2:
    """Wrap the raw event, refusing shapes API Gateway never sends (direct invokes)."""
    if not isinstance(event, Mapping):
        raise InvalidRequest("malformed event")
    raw = dict(event)
    headers = raw.setdefault("headers", {})
    cookies = raw.setdefault("cookies", [])
    context = raw.setdefault("requestContext", {})
    raw.setdefault("rawPath", "/")
    if (
        not isinstance(headers, Mapping)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
        or not isinstance(cookies, list)
        or not all(isinstance(c, str) for c in cookies)
        or not isinstance(context, Mapping)
        or not isinstance(raw["rawPath"], str)
    ):
        raise InvalidRequest("malformed event")
    return APIGatewayProxyEventV2(raw)


def header(event: APIGatewayProxyEventV2, name: str) -> str | None:
    """A request header by case-insensitive name."""
    value: str | None = event.headers.get(name.lower())
    if value is None:
        for key, candidate in event.headers.items():
            if key.lower() == name.lower():
                return str(candidate)
    return value


def cookie(event: APIGatewayProxyEventV2, name: str) -> str | None:
    """A cookie's value from the payload 2.0 `cookies` list (the last one wins)."""
    found: str | None = None
    for item in event.cookies or []:
        key, sep, value = item.partition("=")
        if sep and key.strip() == name:
            found = value.strip()
    return found


def request_method(event: APIGatewayProxyEventV2) -> str:
    """The HTTP method, upper-case; "" when the event does not say."""
    context = event.raw_event.get("requestContext")
    http = context.get("http") if isinstance(context, Mapping) else None
    method = http.get("method") if isinstance(http, Mapping) else None
    if not isinstance(method, str) or not method:
        route_key = event.raw_event.get("routeKey")
        method = route_key.split(" ", 1)[0] if isinstance(route_key, str) else ""
    return method.strip().upper()


def raw_body(event: APIGatewayProxyEventV2) -> bytes:
    """The request body as bytes, with the 16 KiB limit applied before decoding JSON."""
    body = event.get("body")
    if body is None or body == "":
        return b""
    if not isinstance(body, str):
        raise InvalidRequest("the request body must be a JSON object")
    if event.get("isBase64Encoded"):
        # base64 is 4/3 the size: refuse early without decoding an oversized body.
        if len(body) > (MAX_BODY_BYTES * 4) // 3 + 4:
            raise PayloadTooLarge(f"the request body is over {MAX_BODY_BYTES} bytes")
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("the request body is not valid base64") from None
    else:
        data = body.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the request body is over {MAX_BODY_BYTES} bytes")
    return data


# Our bodies are flat objects. An explicit limit, because Python 3.11's parser refuses a few
# thousand levels (RecursionError) while 3.13's accepts them: the answer must not depend on it.
MAX_JSON_DEPTH = 32


def _nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether containers nest deeper than `limit` (iterative: no recursion to exhaust)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return False


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def json_body(event: APIGatewayProxyEventV2, *, required: bool = True) -> dict[str, Any]:
    """The body as a JSON object; {} when empty and not required."""
    data = raw_body(event)
    if not data.strip():
        if required:
            raise InvalidRequest("the request body must be a JSON object")
        return {}
    try:
        text = data.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidRequest("the request body is not valid UTF-8 JSON") from None
    if _nesting_exceeds(value, MAX_JSON_DEPTH):
        raise InvalidRequest(f"the request body is nested deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(value, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return value


def string_field(body: Mapping[str, Any], name: str, *, max_length: int = 1024) -> str:
    """A required string field: present, a string, no NUL, not absurdly long."""
    value = body.get(name)
    if not isinstance(value, str) or value == "":
        raise InvalidRequest(f"'{name}' must be a non-empty string")
    if "\x00" in value:
        raise InvalidRequest(f"'{name}' must not contain NUL characters")
    if len(value) > max_length:
        raise InvalidRequest(f"'{name}' is too long")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from \ud800-style JSON escapes
        raise InvalidRequest(f"'{name}' is not valid Unicode") from None
    return value


def optional_string_field(
    body: Mapping[str, Any], name: str, *, max_length: int = 1024
) -> str | None:
    """An optional string field: absent/null gives None, anything else must be a valid string."""
    if body.get(name) is None:
        return None
    return string_field(body, name, max_length=max_length)
