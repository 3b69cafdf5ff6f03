"""The request checks every HTTP call passes before its handler runs (docs/routes.md
"Cross-site calls and content type"): the same-site rule for state-changing calls and
the JSON-only rule for bodies. Together they stop login CSRF."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth.http.errors import CrossSiteRequest, UnsupportedMediaType
from stateless_auth.http.requests import header, request_method

# Methods that change nothing; every other one (POST, DELETE, ...) gets the cross-site rule.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# The allowed origins, or a function that reads them only when a check needs them.
Origins = frozenset[str] | Callable[[], frozenset[str]]


def api_origin(event: Mapping[str, Any]) -> str:
    """`<X-Forwarded-Proto>://<host>` of a payload 2.0 event, as the client addressed the API.

    The host is API Gateway's requestContext.domainName (not the client's Host header)
    where present.
    """
    headers = event.get("headers") or {}
    proto = str(headers.get("x-forwarded-proto") or "https").split(",")[0].strip().lower()
    host = (event.get("requestContext") or {}).get("domainName") or headers.get("host") or ""
    return f"{proto}://{str(host).lower()}"


def changes_state(event: APIGatewayProxyEventV2) -> bool:
    """Whether the cross-site rule applies: every method but GET/HEAD/OPTIONS (and unknown)."""
    return request_method(event) not in SAFE_METHODS


def check_same_site(event: APIGatewayProxyEventV2, allowed_origins: Origins) -> None:
    """Refuse a call from another site: an `Origin` that is neither the API's own nor
    listed in ALLOWED_ORIGINS, or `Sec-Fetch-Site: cross-site` without a listed `Origin`.
    A listed origin may call from another site (that is what listing it is for: an app
    on app.example.com calling the API on execute-api). Calls with neither header pass."""
    cross_site = (header(event, "sec-fetch-site") or "").strip().lower() == "cross-site"
    origin = header(event, "origin")
    if origin is None:
        if cross_site:
            raise CrossSiteRequest("cross-site requests may not change state")
        return
    origin = origin.strip().rstrip("/").lower()
    if origin == api_origin(event.raw_event) and not cross_site:
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
    """The checks every HTTP call passes before its handler runs (`handler.endpoint`)."""
    if changes_state(event):
        check_same_site(event, allowed_origins)
    check_content_type(event)
