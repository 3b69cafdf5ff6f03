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

from localapi.template import DEFAULT_ACCOUNT_ID, LOCAL_API_ID

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


def _wsgi_text(value: Any) -> str:
    """WSGI strings are latin-1 decoded bytes; undo that to get the UTF-8 text."""
    return str(value).encode("latin-1", "replace").decode("utf-8", "replace")


def incoming_from_environ(environ: Mapping[str, Any], body: bytes) -> IncomingRequest:
    """The gateway's view of a WSGI request: lower-case headers, cookies split out."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_") or (key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value):
            headers[key.removeprefix("HTTP_").lower().replace("_", "-")] = _wsgi_text(value)
    cookie_header = headers.pop("cookie", "")
    cookies = [part.strip() for part in cookie_header.split(";") if part.strip()]
    raw_uri = _wsgi_text(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "")
    if raw_uri:
        parts = urlsplit(raw_uri)
        raw_path, raw_query = parts.path or "/", parts.query
    else:
        raw_path = str(environ.get("PATH_INFO") or "/")
        raw_query = str(environ.get("QUERY_STRING") or "")
    source_ip = str(environ.get("REMOTE_ADDR") or "127.0.0.1")
    forwarded_for = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded_for}, {source_ip}" if forwarded_for else source_ip
    headers["x-forwarded-port"] = str(environ.get("SERVER_PORT") or "")
    headers["x-forwarded-proto"] = "http"
    headers["x-amzn-trace-id"] = f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    return IncomingRequest(
        method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
        raw_path=raw_path,
        path=_wsgi_text(environ.get("PATH_INFO") or "/"),
        raw_query=raw_query,
        headers=headers,
        cookies=cookies,
        body=body,
        source_ip=source_ip,
        protocol=str(environ.get("SERVER_PROTOCOL") or "HTTP/1.1"),
        host=headers.get("host") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}",
    )


def route_arn(request: IncomingRequest, region: str) -> str:
    """The routeArn API Gateway passes to authorizers."""
    return (
        f"arn:aws:execute-api:{region}:{DEFAULT_ACCOUNT_ID}:{LOCAL_API_ID}/{STAGE}/"
        f"{request.method}{request.raw_path}"
    )


def _common(request: IncomingRequest, route_key: str, path_parameters: Mapping[str, str]) -> Any:
    """What the route event and the authorizer event both carry."""
    received = datetime.fromtimestamp(request.received, UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if request.cookies:
        event["cookies"] = list(request.cookies)
    event["headers"] = dict(request.headers)
    if request.query_parameters:
        event["queryStringParameters"] = request.query_parameters
    event["requestContext"] = {
        "accountId": DEFAULT_ACCOUNT_ID,
        "apiId": LOCAL_API_ID,
        "domainName": request.host,
        "domainPrefix": request.host.split(".", 1)[0].split(":", 1)[0],
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
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    return event


def http_event(
    request: IncomingRequest,
    route_key: str,
    path_parameters: Mapping[str, str],
    authorizer_context: Mapping[str, Any] | bool | None = False,
) -> dict[str, Any]:
    """The payload 2.0 event of a route's function.

    ``authorizer_context`` False means the route has no authorizer; otherwise it is the
    authorizer's context and lands in ``requestContext.authorizer.lambda``.
    """
    event: dict[str, Any] = _common(request, route_key, path_parameters)
    if authorizer_context is not False:
        event["requestContext"]["authorizer"] = {"lambda": authorizer_context}
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    text = media_type.startswith("text/") or media_type in TEXT_MEDIA_TYPES
    decoded = _utf8(request.body) if text else None
    if request.body:
        event["body"] = decoded or base64.b64encode(request.body).decode("ascii")
    event["isBase64Encoded"] = bool(request.body) and decoded is None
    return event


def _utf8(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def authorizer_event(
    request: IncomingRequest,
    route_key: str,
    path_parameters: Mapping[str, str],
    identity_source: list[str],
    region: str,
) -> dict[str, Any]:
    """The payload 2.0 REQUEST authorizer event."""
    event: dict[str, Any] = _common(request, route_key, path_parameters)
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": route_arn(request, region),
        "identitySource": identity_source,
        **event,
    }


class InvalidResponse(Exception):
    """A function's result cannot be turned into an HTTP response."""


@dataclass
class GatewayResponse:
    """What API Gateway sends back, before the WSGI layer."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _header_value(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidResponse(f"header {name!r} has a non-string value {value!r}")
    text = str(value)
    if "\r" in text or "\n" in text:
        raise InvalidResponse(f"header {name!r} contains a line break")
    return text


def response_from_result(result: Any) -> GatewayResponse:
    """A payload 2.0 response (``statusCode``, ``headers``, ``cookies``, ``body``).

    Every handler here returns one. API Gateway would also turn any other JSON value into
    a 200; the local API refuses it instead (a 500 and a log line), which is louder.
    """
    if not isinstance(result, dict) or "statusCode" not in result:
        raise InvalidResponse(f"the function returned {type(result).__name__}, no statusCode")
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise InvalidResponse(f"statusCode {status!r} is not an HTTP status")
    raw_headers = result.get("headers") or {}
    cookies = result.get("cookies") or []
    if not isinstance(raw_headers, dict) or not isinstance(cookies, list):
        raise InvalidResponse("headers is not a map, or cookies is not a list")
    headers = [(str(name), _header_value(str(name), v)) for name, v in raw_headers.items()]
    headers += [("Set-Cookie", _header_value("Set-Cookie", cookie)) for cookie in cookies]
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise InvalidResponse(f"body must be a string, got {type(body).__name__}")
    payload = (body or "").encode("utf-8")
    if body and result.get("isBase64Encoded") is True:
        try:
            payload = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidResponse("body is not valid base64") from exc
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return GatewayResponse(status, headers, payload)


def message_response(status: int, message: str) -> GatewayResponse:
    """API Gateway's own error answers: ``{"message": "..."}``."""
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return GatewayResponse(status, [("Content-Type", "application/json")], body)
