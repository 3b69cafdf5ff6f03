"""HTTP edge helpers for the API Gateway HTTP API (payload 2.0) functions.

Parsing the body (size limit, JSON, base64), cookies, the issuer URL, the
request checks every call passes first (the cross-site rule and the body's media type)
and the error shape: the only place that knows about HTTP.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth.errors import (
    AuthError,
    CrossSiteRequest,
    InvalidRequest,
    InvalidToken,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from stateless_auth.urls import api_origin

if TYPE_CHECKING:
    from stateless_auth.service import TokenGrant

MAX_BODY_BYTES = 16 * 1024
REFRESH_COOKIE = "__Host-refresh_token"
JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}
MAX_REFRESH_TOKEN_LENGTH = 512
# Methods that change nothing; every other one (POST, DELETE, ...) gets the cross-site rule.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# The allowed origins, or a function that reads them only when a check needs them.
Origins = frozenset[str] | Callable[[], frozenset[str]]


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


def request_origin(event: APIGatewayProxyEventV2) -> str:
    """The API's own origin, `<X-Forwarded-Proto>://<host>`."""
    return api_origin(event.raw_event)


def issuer_for(event: APIGatewayProxyEventV2, configured: str) -> str:
    """The configured issuer, or the API's own URL (CONTRACT §6 JWT_ISSUER)."""
    return configured or request_origin(event)


def request_method(event: APIGatewayProxyEventV2) -> str:
    """The HTTP method, upper-case; "" when the event does not say."""
    context = event.raw_event.get("requestContext")
    http = context.get("http") if isinstance(context, Mapping) else None
    method = http.get("method") if isinstance(http, Mapping) else None
    if not isinstance(method, str) or not method:
        route_key = event.raw_event.get("routeKey")
        method = route_key.split(" ", 1)[0] if isinstance(route_key, str) else ""
    return method.strip().upper()


def changes_state(event: APIGatewayProxyEventV2) -> bool:
    """Whether the cross-site rule applies: every method but GET/HEAD/OPTIONS (and unknown)."""
    return request_method(event) not in SAFE_METHODS


def check_same_site(event: APIGatewayProxyEventV2, allowed_origins: Origins) -> None:
    """Refuse a call from another site (CONTRACT §3): `Sec-Fetch-Site: cross-site`, or an
    `Origin` that is neither the API's own nor allowed. Calls with neither header pass."""
    if (header(event, "sec-fetch-site") or "").strip().lower() == "cross-site":
        raise CrossSiteRequest("cross-site requests may not change state")
    origin = header(event, "origin")
    if origin is None:
        return
    origin = origin.strip().rstrip("/").lower()
    if origin == request_origin(event):
        return
    allowed = allowed_origins() if callable(allowed_origins) else allowed_origins
    if origin not in allowed:
        raise CrossSiteRequest("this origin may not call this API")


def check_content_type(event: APIGatewayProxyEventV2) -> None:
    """A request with a body must say `Content-Type: application/json` (parameters allowed):
    a cross-site `<form enctype="text/plain">` cannot, and cannot without a CORS preflight."""
    body = event.raw_event.get("body")
    if body is None or body == "":
        return
    media_type = (header(event, "content-type") or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType(
            "the request body must be sent as Content-Type: application/json"
        )


def check_request(event: APIGatewayProxyEventV2, allowed_origins: Origins) -> None:
    """The checks every HTTP call passes before its handler runs (`edge.endpoint`)."""
    if changes_state(event):
        check_same_site(event, allowed_origins)
    check_content_type(event)


def refresh_cookie(token: str, max_age: int) -> str:
    """The Set-Cookie value that delivers a refresh token to a browser."""
    return f"{REFRESH_COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age}"


def cleared_refresh_cookie() -> str:
    """The Set-Cookie value that removes the refresh cookie."""
    return f"{REFRESH_COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0"


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


def error_response(error: AuthError, *, cookies: list[str] | None = None) -> dict[str, Any]:
    """The service's error shape: {"error": code, "message": text}."""
    return response(
        error.status,
        {"error": error.code, "message": error.message},
        headers=error.headers(),
        cookies=cookies,
    )


COOKIE = "cookie"
BODY = "body"


def delivery_field(body: Mapping[str, Any]) -> str:
    """Where the client wants its refresh token: "cookie" (default) or "body"."""
    delivery = optional_string_field(body, "refresh_token_delivery") or COOKIE
    if delivery not in (COOKIE, BODY):
        raise InvalidRequest("'refresh_token_delivery' must be 'cookie' or 'body'")
    return delivery


def presented_refresh_token(
    event: APIGatewayProxyEventV2, allowed_origins: Origins
) -> tuple[str | None, str]:
    """The refresh token the caller sent and how: the cookie counts where both are sent.

    None when none is presented (no cookie, no or a null or empty `refresh_token`);
    a presented token that is malformed or too long is InvalidToken (CONTRACT §3). A
    cookie-carrying call from another site is refused before anything else (the
    handler edge already refuses every cross-site state-changing call; this stays as
    a second line for the cookie).
    """
    from_cookie = cookie(event, REFRESH_COOKIE)
    if from_cookie:
        check_same_site(event, allowed_origins)
        return _token_value(from_cookie), COOKIE
    body = json_body(event, required=False)
    token = body.get("refresh_token")
    if token is None or token == "":
        return None, BODY
    if not isinstance(token, str):
        raise InvalidToken("the refresh token is malformed")
    return _token_value(token), BODY


def _token_value(token: str) -> str:
    if len(token) > MAX_REFRESH_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
        raise InvalidToken("the refresh token is malformed")
    return token


def token_response(grant: TokenGrant, delivery: str) -> dict[str, Any]:
    """The token response of CONTRACT §3, the refresh token where the client asked."""
    body: dict[str, Any] = {
        "access_token": grant.access_token,
        "token_type": "Bearer",
        "expires_in": grant.expires_in,
    }
    if delivery == BODY:
        body["refresh_token"] = grant.refresh_token
        body["refresh_expires_in"] = grant.refresh_expires_in
        return response(200, body)
    return response(
        200, body, cookies=[refresh_cookie(grant.refresh_token, grant.refresh_expires_in)]
    )
