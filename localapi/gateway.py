"""The WSGI application that plays API Gateway HTTP API in front of the loaded functions."""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any, TextIO

from werkzeug.wrappers import Response

from localapi.events import (
    GatewayResponse,
    IncomingRequest,
    InvalidResponse,
    authorizer_event,
    http_event,
    incoming_from_environ,
    message_response,
    response_from_result,
)
from localapi.model import CorsSpec, RouteSpec
from localapi.runtime import LoadedFunction
from localapi.template import DEFAULT_REGION

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
_DRAIN_LIMIT = 64 * 1024 * 1024
_CHUNK = 64 * 1024
RAISED = object()  # what a function that raised returned


class Router:
    """The route of a method and path: literal segments beat ``{parameters}``."""

    def __init__(self, routes: Iterable[RouteSpec]) -> None:
        compiled = [(route, route.path.split("/")[1:]) for route in routes]
        self.routes = sorted(compiled, key=lambda item: [s.startswith("{") for s in item[1]])

    def match(self, method: str, path: str) -> tuple[RouteSpec, dict[str, str]] | None:
        parts = path.split("/")[1:]
        for route, segments in self.routes:
            if route.method != method or len(segments) != len(parts):
                continue
            parameters: dict[str, str] = {}
            for segment, actual in zip(segments, parts, strict=True):
                if segment.startswith("{") and actual:
                    parameters[segment[1:-1]] = actual
                elif segment != actual:
                    break
            else:
                return route, parameters
        return None


class Gateway:
    """WSGI application: routing, CORS, the Lambda authorizer, the payload 2.0 mapping."""

    def __init__(
        self,
        routes: Iterable[RouteSpec],
        functions: Mapping[str, LoadedFunction],
        *,
        cors: CorsSpec | None = None,
        region: str = DEFAULT_REGION,
        log: TextIO | None = None,
    ) -> None:
        self.router = Router(routes)
        self.functions = dict(functions)
        self.cors = cors
        self.region = region
        self._log = log
        self._log_lock = threading.Lock()

    def log(self, message: str, *, with_traceback: bool = False) -> None:
        stream = self._log or sys.stderr
        with self._log_lock:
            stream.write(f"[localapi] {message}\n")
            if with_traceback:
                traceback.print_exc(file=stream)
            stream.flush()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        try:
            response = self.handle(environ)
        except Exception:
            self.log("unexpected error in the local API", with_traceback=True)
            response = message_response(500, "Internal Server Error")
        wsgi_response = Response(response.body, status=_status_line(response.status))
        wsgi_response.headers.clear()
        for name, value in response.headers:
            wsgi_response.headers.add(name, value)
        return wsgi_response(environ, start_response)

    def handle(self, environ: dict[str, Any]) -> GatewayResponse:
        body = _read_body(environ)
        if body is None:
            response = message_response(413, "Request Entity Too Large")
            response.headers.append(("Connection", "close"))
            return response
        request = incoming_from_environ(environ, body)
        origin = request.headers.get("origin")
        if self.cors is not None and origin and request.method == "OPTIONS":
            requested = request.headers.get("access-control-request-method")
            if requested:
                return _preflight(self.cors, origin, requested.upper(), request)
        matched = self.router.match(request.method, request.path)
        if matched is None:
            response = message_response(404, "Not Found")
        else:
            response = self._invoke_route(request, *matched)
            if self.cors is not None and origin:
                _apply_cors(self.cors, origin, response)
        response.headers.append(("apigw-requestid", request.request_id))
        return response

    def _invoke(
        self, function: LoadedFunction, event: dict[str, Any], what: str, request: IncomingRequest
    ) -> Any:
        """The function's result, or RAISED after logging why it raised."""
        try:
            result, elapsed = function.invoke(event)
        except Exception as exc:
            self.log(
                f"{what} raised {type(exc).__name__} on {event['routeKey']} "
                f"(request {request.request_id})",
                with_traceback=True,
            )
            return RAISED
        if elapsed > function.spec.timeout_seconds:
            self.log(
                f"{function.spec.logical_id} took {elapsed:.2f}s, more than its Timeout of "
                f"{function.spec.timeout_seconds:g}s: Lambda would have stopped it"
            )
        return result

    def _invoke_route(
        self, request: IncomingRequest, route: RouteSpec, path_parameters: dict[str, str]
    ) -> GatewayResponse:
        authorizer_context: Any = False
        if route.authorizer is not None:
            outcome = self._authorize(request, route, path_parameters)
            if isinstance(outcome, GatewayResponse):
                return outcome
            authorizer_context = outcome
        function = self.functions[route.function_id]
        event = http_event(request, route.route_key, path_parameters, authorizer_context)
        result = self._invoke(function, event, route.function_id, request)
        if result is RAISED:
            return _internal_error()
        try:
            return response_from_result(result)
        except InvalidResponse as exc:
            self.log(f"{route.function_id} returned an unusable response: {exc}")
            return _internal_error()

    def _authorize(
        self, request: IncomingRequest, route: RouteSpec, path_parameters: dict[str, str]
    ) -> dict[str, Any] | GatewayResponse | None:
        """The authorizer's context, or the gateway's answer when it does not allow."""
        spec = route.authorizer
        assert spec is not None
        identity = [request.headers.get(header.lower(), "") for header in spec.identity_headers]
        if not all(identity):
            return message_response(401, "Unauthorized")
        event = authorizer_event(request, route.route_key, path_parameters, identity, self.region)
        function = self.functions[spec.function_id]
        result = self._invoke(function, event, f"authorizer {spec.function_id}", request)
        if result is RAISED:
            return _internal_error()
        context = result.get("context") if isinstance(result, dict) else None
        authorized = result.get("isAuthorized") if isinstance(result, dict) else None
        if not isinstance(authorized, bool) or not isinstance(context, dict | None):
            self.log(
                f"authorizer {spec.function_id} returned a malformed simple response "
                "(isAuthorized must be a boolean, context a map)"
            )
            return _internal_error()
        return context if authorized else message_response(403, "Forbidden")


def _internal_error() -> GatewayResponse:
    return message_response(500, "Internal Server Error")


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _drain(stream: Any, limit: int) -> None:
    while limit > 0 and (chunk := stream.read(min(_CHUNK, limit))):
        limit -= len(chunk)


def _read_body(environ: dict[str, Any]) -> bytes | None:
    """The request body, or None when it exceeds MAX_BODY_BYTES (then drained)."""
    stream = environ["wsgi.input"]
    length_header = str(environ.get("CONTENT_LENGTH") or "")
    if length_header.isdigit():
        length = int(length_header)
        if length > MAX_BODY_BYTES:
            _drain(stream, min(length, _DRAIN_LIMIT))
            return None
        return bytes(stream.read(length)) if length else b""
    if not environ.get("wsgi.input_terminated"):
        return b""
    data = bytearray()  # a chunked body
    while chunk := stream.read(_CHUNK):
        data += chunk
        if len(data) > MAX_BODY_BYTES:
            _drain(stream, _DRAIN_LIMIT)
            return None
    return bytes(data)


def _origin_allowed(cors: CorsSpec, origin: str) -> bool:
    return origin.lower() in (allowed.lower() for allowed in cors.allow_origins)


def _preflight(
    cors: CorsSpec, origin: str, method: str, request: IncomingRequest
) -> GatewayResponse:
    """API Gateway answers CORS preflights itself, for any path."""
    requested = request.headers.get("access-control-request-headers", "")
    headers = [h.strip().lower() for h in requested.split(",") if h.strip()]
    allowed = (
        _origin_allowed(cors, origin)
        and method in cors.allow_methods
        and all(h in cors.allow_headers for h in headers)
    )
    answer: list[tuple[str, str]] = []
    if allowed:
        answer.append(("Access-Control-Allow-Origin", origin))
        answer.append(("Access-Control-Allow-Methods", ",".join(cors.allow_methods)))
        if headers:
            answer.append(("Access-Control-Allow-Headers", ",".join(cors.allow_headers)))
        if cors.allow_credentials:
            answer.append(("Access-Control-Allow-Credentials", "true"))
        if cors.max_age is not None:
            answer.append(("Access-Control-Max-Age", str(cors.max_age)))
    answer.append(("Vary", "Origin"))
    return GatewayResponse(204, answer, b"")


def _apply_cors(cors: CorsSpec, origin: str, response: GatewayResponse) -> None:
    """API Gateway replaces the integration's CORS headers with its configured ones."""
    response.headers = [
        (name, value)
        for name, value in response.headers
        if not name.lower().startswith("access-control-")
    ]
    if _origin_allowed(cors, origin):
        response.headers.append(("Access-Control-Allow-Origin", origin))
        if cors.allow_credentials:
            response.headers.append(("Access-Control-Allow-Credentials", "true"))
        response.headers.append(("Vary", "Origin"))
