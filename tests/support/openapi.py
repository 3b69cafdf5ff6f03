"""Checking what a test sends and receives over HTTP against openapi.yaml (docs/api.md).

``check(base_url, method, path, headers, body, reply)`` validates the request and the
response with openapi-core's public API and raises ``OpenApiMismatch`` (an
AssertionError: the test fails) with what did not match:

- a route the document lacks, unless the answer is the gateway's own
  ``404 {"message": "Not Found"}`` for it (a test asking for a route that does not
  exist, as API Gateway answers);
- a status the operation does not list, or a body or header of the wrong shape;
- a request the document calls invalid (a missing field, a wrong type, no token) that
  the service accepted with a 2xx: the document would be promising a refusal the
  service does not make (unless the operation says ``x-ignores-invalid-body: true``, as
  logout does). Such a request answered with an error is what the document says, and
  only the response is checked.

What is not the API is not checked: the local API's own routes (``/_localapi/*``,
``/openapi.json``, ``/docs``, ``/demo``) and CORS preflights (``OPTIONS``, which the
gateway answers itself).
"""

from __future__ import annotations

import functools
import http.client
import http.cookies
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.validation.request.exceptions import RequestValidationError
from werkzeug.datastructures import Headers, ImmutableMultiDict

from localapi import api_docs
from tests.support.paths import ROOT

DOCUMENT = ROOT / "openapi.yaml"
# Paths the local API serves itself: not routes of the template, not in the document.
NOT_API_PREFIXES = ("/_localapi/", "/docs/", "/demo/")
NOT_API_PATHS = frozenset({"/openapi.json", "/docs", "/demo", "/_localapi"})
GATEWAY_NOT_FOUND = {"message": "Not Found"}


class OpenApiMismatch(AssertionError):
    """A request or response that openapi.yaml does not describe."""


def load_document(path: Path = DOCUMENT) -> dict[str, Any]:
    """openapi.yaml as the local API reads it."""
    return api_docs.load_document(path)


@functools.lru_cache(maxsize=16)
def openapi_for(base_url: str) -> OpenAPI:
    """The document (checked as valid OpenAPI 3.1 by openapi-core on loading) with its
    one server at ``base_url``, so paths match whatever port a test's API has."""
    document = load_document()
    document["servers"] = [{"url": base_url.rstrip("/")}]
    return OpenAPI.from_dict(document)


def is_api_call(method: str, path: str) -> bool:
    bare = urlsplit(path).path
    if method.upper() == "OPTIONS":
        return False
    return not (bare in NOT_API_PATHS or bare.startswith(NOT_API_PREFIXES))


def _cookies(headers: Headers) -> ImmutableMultiDict[str, str]:
    jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
    for value in headers.getlist("Cookie"):
        try:
            jar.load(value)
        except http.cookies.CookieError:
            continue
    return ImmutableMultiDict([(name, morsel.value) for name, morsel in jar.items()])


@dataclass
class SentRequest:
    """What the test sent, as openapi-core's Request protocol wants it."""

    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters = field(default_factory=RequestParameters)


@dataclass
class ReceivedResponse:
    """What the test received, as openapi-core's Response protocol wants it."""

    status_code: int
    headers: Headers
    data: bytes | None
    content_type: str


def _request(
    base_url: str, method: str, path: str, headers: Mapping[str, str], body: bytes | None
) -> SentRequest:
    split = urlsplit(path)
    sent = Headers(list(headers.items()))
    return SentRequest(
        host_url=base_url.rstrip("/"),
        path=split.path,
        method=method.lower(),
        body=body,
        content_type=(sent.get("Content-Type") or "").lower(),
        parameters=RequestParameters(
            query=ImmutableMultiDict(parse_qsl(split.query, keep_blank_values=True)),
            header=sent,
            cookie=_cookies(sent),
        ),
    )


def _response(status: int, headers: http.client.HTTPMessage, body: bytes) -> ReceivedResponse:
    received = Headers([(name, value) for name, value in headers.items()])
    return ReceivedResponse(
        status_code=status,
        headers=received,
        data=body,
        content_type=(received.get("Content-Type") or "").lower(),
    )


def _text(value: object) -> str:
    try:
        return str(value)
    except Exception:  # openapi-core's errors about undecodable bodies cannot say themselves
        return "(no text)"


def _reasons(error: BaseException) -> str:
    """The error and what it wraps (openapi-core keeps the schema errors in __cause__
    and ``schema_errors``)."""
    parts = [f"{type(error).__name__}: {_text(error)}"]
    for schema_error in getattr(error, "schema_errors", None) or []:
        parts.append(f"  {_text(getattr(schema_error, 'message', schema_error))}")
    cause = error.__cause__
    while cause is not None:
        parts.append(f"  caused by {type(cause).__name__}: {_text(cause)}")
        for schema_error in getattr(cause, "schema_errors", None) or []:
            parts.append(f"    {_text(getattr(schema_error, 'message', schema_error))}")
        cause = cause.__cause__
    return "\n".join(part if len(part) <= 600 else part[:600] + "..." for part in parts)


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


IGNORES_INVALID_BODY = "x-ignores-invalid-body"


@functools.lru_cache(maxsize=1)
def _operations_ignoring_invalid_bodies() -> frozenset[tuple[str, str]]:
    return frozenset(
        (method, template)
        for template, item in load_document()["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and operation.get(IGNORES_INVALID_BODY) is True
    )


def _ignores_invalid_bodies(request: SentRequest) -> bool:
    """Whether the operation says it answers success to any body (logout: 204 always)."""
    return any(
        method == request.method and _matches(template, request.path)
        for method, template in _operations_ignoring_invalid_bodies()
    )


def _matches(template: str, path: str) -> bool:
    parts, wanted = template.strip("/").split("/"), path.strip("/").split("/")
    return len(parts) == len(wanted) and all(
        part == got or (part.startswith("{") and part.endswith("}"))
        for part, got in zip(parts, wanted, strict=True)
    )


def check(
    base_url: str,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes | None,
    status: int,
    response_headers: http.client.HTTPMessage,
    response_body: bytes,
) -> None:
    """Raise OpenApiMismatch unless openapi.yaml describes this call and its answer."""
    if not is_api_call(method, path):
        return
    api = openapi_for(base_url)
    request = _request(base_url, method, path, headers, body)
    response = _response(status, response_headers, response_body)
    call = f"{method.upper()} {path} -> {status} {response_body[:300]!r}"
    try:
        api.validate_request(request)
    except PathError as error:
        if status == 404 and _json_or_none(response_body) == GATEWAY_NOT_FOUND:
            return  # the gateway's answer for a route that does not exist: right
        raise OpenApiMismatch(
            f"openapi.yaml has no operation for {call}\n{_reasons(error)}"
        ) from None
    except (RequestValidationError, RecursionError) as error:
        # RecursionError: openapi-core's JSON parser on a body nested thousands deep.
        if 200 <= status < 300 and not _ignores_invalid_bodies(request):
            raise OpenApiMismatch(
                f"openapi.yaml calls this request invalid, but the service accepted it:"
                f" {call}\n{_reasons(error)}"
            ) from None
    try:
        api.validate_response(request, response)
    except Exception as error:
        raise OpenApiMismatch(
            f"the response does not match openapi.yaml: {call}\n{_reasons(error)}"
        ) from None
