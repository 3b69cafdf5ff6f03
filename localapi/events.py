"""API Gateway HTTP API payload format 2.0: request events in, Lambda responses out."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ACCOUNT_ID = "123456789012"
API_ID = "localapi"
STAGE = "$default"

# What API Gateway passes as text; every other body (no Content-Type, form posts,
# octet-stream...) reaches the function base64-encoded with isBase64Encoded true.
TEXT_MEDIA_TYPES = frozenset({"application/json", "application/xml", "application/javascript"})


@dataclass
class IncomingRequest:
    """An HTTP request as API Gateway sees it, before routing."""

    method: str
    raw_path: str
    path: str
    raw_query: str
    headers: dict[str, str]
    cookies: list[str]
    body: bytes
    source_ip: str
    protocol: str
    host: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    received: float = field(default_factory=time.time)

    @property
    def query_parameters(self) -> dict[str, str]:
        """Query string parameters; repeated names are comma-joined as in payload 2.0."""
        joined: dict[str, str] = {}
        for name, value in parse_qsl(self.raw_query, keep_blank_values=True):
            joined[name] = f"{joined[name]},{value}" if name in joined else value
        return joined


def _text_body(headers: Mapping[str, str]) -> bool:
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type.startswith("text/") or media_type in TEXT_MEDIA_TYPES


def incoming_from_environ(environ: Mapping[str, Any], body: bytes) -> IncomingRequest:
    """Build the gateway's view of a WSGI request: lower-case headers, cookies split out."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].lower().replace("_", "-")
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.lower().replace("_", "-")
        else:
            continue
        if value == "" and name in ("content-type", "content-length"):
            continue
        # WSGI strings are latin-1 decoded bytes; undo that to get the UTF-8 text.
        text = str(value).encode("latin-1", "replace").decode("utf-8", "replace")
        headers[name] = text
    cookies: list[str] = []
    cookie_header = headers.pop("cookie", None)
    if cookie_header is not None:
        cookies = [part.strip() for part in cookie_header.split(";") if part.strip()]

    raw_uri = (
        str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "")
        .encode("latin-1", "replace")
        .decode("utf-8", "replace")
    )
    if raw_uri:
        parts = urlsplit(raw_uri)
        raw_path = parts.path or "/"
        raw_query = parts.query
    else:
        raw_path = str(environ.get("PATH_INFO") or "/")
        raw_query = str(environ.get("QUERY_STRING") or "")
    path = str(environ.get("PATH_INFO") or "/").encode("latin-1").decode("utf-8", "replace")

    source_ip = str(environ.get("REMOTE_ADDR") or "127.0.0.1")
    forwarded_for = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded_for}, {source_ip}" if forwarded_for else source_ip
    headers["x-forwarded-port"] = str(environ.get("SERVER_PORT") or "")
    headers["x-forwarded-proto"] = "http"
    headers["x-amzn-trace-id"] = f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    host = headers.get("host") or (
        f"{environ.get('SERVER_NAME', '127.0.0.1')}:{environ.get('SERVER_PORT', '')}"
    )
    return IncomingRequest(
        method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
        raw_path=raw_path,
        path=path,
        raw_query=raw_query,
        headers=headers,
        cookies=cookies,
        body=body,
        source_ip=source_ip,
        protocol=str(environ.get("SERVER_PROTOCOL") or "HTTP/1.1"),
        host=host,
    )


def _request_context(request: IncomingRequest, route_key: str) -> dict[str, Any]:
    received = datetime.fromtimestamp(request.received, UTC)
    domain_name = request.host
    return {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", 1)[0].split(":", 1)[0],
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.headers.get("user-agent", ""),
        },
        "requestId": request.request_id,
        "routeKey": route_key,
        "stage": STAGE,
        "time": received.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(request.received * 1000),
    }


def route_arn(request: IncomingRequest, region: str) -> str:
    """The methodArn-like routeArn API Gateway passes to authorizers."""
    return (
        f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{API_ID}/{STAGE}/"
        f"{request.method}{request.raw_path}"
    )


def _request_fields(request: IncomingRequest, route_key: str) -> dict[str, Any]:
    """What the route event and the authorizer event both carry about the request."""
    fields: dict[str, Any] = {
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if request.cookies:
        fields["cookies"] = list(request.cookies)
    fields["headers"] = dict(request.headers)
    query = request.query_parameters
    if query:
        fields["queryStringParameters"] = query
    return fields


def http_event(
    request: IncomingRequest,
    route_key: str,
    path_parameters: Mapping[str, str],
    authorizer_context: Mapping[str, Any] | bool | None = False,
) -> dict[str, Any]:
    """The payload 2.0 event a route's function receives.

    ``authorizer_context`` False means the route has no authorizer; otherwise it is the
    authorizer's context and lands in ``requestContext.authorizer.lambda``.
    """
    event: dict[str, Any] = {"version": "2.0", **_request_fields(request, route_key)}
    context = _request_context(request, route_key)
    if authorizer_context is not False:
        context["authorizer"] = {"lambda": authorizer_context}
    event["requestContext"] = context
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if request.body:
        if _text_body(request.headers):
            try:
                event["body"] = request.body.decode("utf-8")
                event["isBase64Encoded"] = False
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(request.body).decode("ascii")
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(request.body).decode("ascii")
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


def authorizer_event(
    request: IncomingRequest,
    route_key: str,
    path_parameters: Mapping[str, str],
    identity_source: list[str],
    region: str,
) -> dict[str, Any]:
    """The payload 2.0 REQUEST authorizer event."""
    event: dict[str, Any] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": route_arn(request, region),
        "identitySource": identity_source,
        **_request_fields(request, route_key),
    }
    event["requestContext"] = _request_context(request, route_key)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    return event


class InvalidResponse(Exception):
    """A function's result cannot be turned into an HTTP response."""


@dataclass
class GatewayResponse:
    """What API Gateway sends back, before the WSGI layer."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _header_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str | int | float):
        text = str(value)
    else:
        raise InvalidResponse(f"header {name!r} has a non-scalar value {value!r}")
    if "\r" in text or "\n" in text:
        raise InvalidResponse(f"header {name!r} contains a line break")
    return text


def response_from_result(result: Any) -> GatewayResponse:
    """Interpret a function's return value as payload format 2.0 does."""
    if isinstance(result, dict) and "statusCode" in result:
        status = result["statusCode"]
        if isinstance(status, bool) or not isinstance(status, int | str):
            raise InvalidResponse(f"statusCode {status!r} is not a number")
        try:
            status = int(status)
        except ValueError as exc:
            raise InvalidResponse(f"statusCode {status!r} is not a number") from exc
        if not 100 <= status <= 599:
            raise InvalidResponse(f"statusCode {status} is out of range")
        headers: list[tuple[str, str]] = []
        raw_headers = result.get("headers") or {}
        if not isinstance(raw_headers, dict):
            raise InvalidResponse("headers is not a map")
        for name, value in raw_headers.items():
            headers.append((str(name), _header_value(str(name), value)))
        multi = result.get("multiValueHeaders") or {}
        if not isinstance(multi, dict):
            raise InvalidResponse("multiValueHeaders is not a map")
        for name, values in multi.items():
            if not isinstance(values, list):
                raise InvalidResponse(f"multiValueHeaders[{name!r}] is not a list")
            headers.extend((str(name), _header_value(str(name), v)) for v in values)
        cookies = result.get("cookies") or []
        if not isinstance(cookies, list):
            raise InvalidResponse("cookies is not a list")
        headers.extend(("Set-Cookie", _header_value("Set-Cookie", c)) for c in cookies)
        body = result.get("body")
        if body is None:
            payload = b""
        elif isinstance(body, str):
            if result.get("isBase64Encoded") is True:
                try:
                    payload = base64.b64decode(body, validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise InvalidResponse("body is not valid base64") from exc
            else:
                payload = body.encode("utf-8")
        else:
            raise InvalidResponse(f"body must be a string, got {type(body).__name__}")
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", "application/json"))
        return GatewayResponse(status, headers, payload)
    if result is None:
        raise InvalidResponse("the function returned None")
    if isinstance(result, str):
        payload = result.encode("utf-8")
    else:
        try:
            payload = json.dumps(result).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise InvalidResponse(f"the result is not JSON-serialisable: {exc}") from exc
    return GatewayResponse(200, [("Content-Type", "application/json")], payload)


def message_response(status: int, message: str) -> GatewayResponse:
    """API Gateway's own error answers: ``{"message": "..."}``."""
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return GatewayResponse(status, [("Content-Type", "application/json")], body)
