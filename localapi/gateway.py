"""The WSGI application that plays API Gateway HTTP API in front of the loaded functions."""

from __future__ import annotations

import fnmatch
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
    route_arn,
)
from localapi.model import AuthorizerSpec, CorsSpec, RouteSpec
from localapi.runtime import LoadedFunction
from localapi.template import DEFAULT_REGION

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
_DRAIN_LIMIT = 64 * 1024 * 1024
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class CompiledRoute:
    """A route's path template, ready to match request paths."""

    spec: RouteSpec
    segments: tuple[str, ...]
    greedy: bool

    @classmethod
    def compile(cls, spec: RouteSpec) -> CompiledRoute:
        if spec.path == "$default":
            return cls(spec, (), True)
        segments = tuple(spec.path.split("/")[1:])
        greedy = bool(segments) and segments[-1].startswith("{") and segments[-1].endswith("+}")
        return cls(spec, segments, greedy)

    @property
    def is_default(self) -> bool:
        return self.spec.path == "$default"

    def match(self, path: str) -> dict[str, str] | None:
        """Path parameters if ``path`` matches this route's path, else None."""
        if self.is_default:
            return {}
        parts = path.split("/")[1:]
        fixed = self.segments[:-1] if self.greedy else self.segments
        if self.greedy:
            if len(parts) <= len(fixed):
                return None
        elif len(parts) != len(fixed):
            return None
        parameters: dict[str, str] = {}
        for template, actual in zip(fixed, parts, strict=False):
            if template.startswith("{") and template.endswith("}"):
                if not actual:
                    return None
                parameters[template[1:-1]] = actual
            elif template != actual:
                return None
        if self.greedy:
            rest = "/".join(parts[len(fixed) :])
            if not rest:
                return None
            parameters[self.segments[-1][1:-2]] = rest
        return parameters

    def priority(self) -> tuple[Any, ...]:
        """Smaller is more specific: literal segments beat variables, greedy comes last."""
        fixed = self.segments[:-1] if self.greedy else self.segments
        shape = tuple(1 if s.startswith("{") else 0 for s in fixed)
        return (
            self.is_default,
            self.greedy,
            -len(fixed) if self.greedy else 0,
            shape,
            self.spec.method == "ANY",
        )


class Router:
    """Picks the most specific route for a method and path, as API Gateway does."""

    def __init__(self, routes: Iterable[RouteSpec]) -> None:
        self.routes = sorted((CompiledRoute.compile(r) for r in routes), key=lambda r: r.priority())

    def match(self, method: str, path: str) -> tuple[RouteSpec, dict[str, str]] | None:
        for route in self.routes:
            if route.spec.method not in (method, "ANY"):
                continue
            parameters = route.match(path)
            if parameters is not None:
                return route.spec, parameters
        return None


@dataclass(frozen=True)
class Decision:
    """An authorizer's answer."""

    authorized: bool
    context: Any


def _policy_allows(document: Any, arn: str) -> bool:
    if not isinstance(document, dict):
        raise InvalidResponse("policyDocument is not a map")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise InvalidResponse("policyDocument has no Statement")
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            raise InvalidResponse("a policy statement is not a map")
        resources = statement.get("Resource", [])
        if isinstance(resources, str):
            resources = [resources]
        matches = any(fnmatch.fnmatchcase(arn, str(pattern)) for pattern in resources)
        effect = statement.get("Effect")
        if matches and effect == "Deny":
            return False
        if matches and effect == "Allow":
            allowed = True
    return allowed


def decide(result: Any, spec: AuthorizerSpec, arn: str) -> Decision:
    """Read a payload 2.0 authorizer response (simple or IAM policy)."""
    if not isinstance(result, dict):
        raise InvalidResponse(f"authorizer returned {type(result).__name__}, not a map")
    context = result.get("context")
    if context is not None and not isinstance(context, dict):
        raise InvalidResponse("authorizer context is not a map")
    if spec.simple_responses:
        authorized = result.get("isAuthorized")
        if not isinstance(authorized, bool):
            raise InvalidResponse("isAuthorized is missing or not a boolean")
        return Decision(authorized, context)
    if "policyDocument" not in result:
        raise InvalidResponse("authorizer response has no policyDocument")
    return Decision(_policy_allows(result["policyDocument"], arn), context)


class Gateway:
    """WSGI application: routing, the Lambda authorizer, and the payload 2.0 mapping."""

    def __init__(
        self,
        routes: Iterable[RouteSpec],
        functions: Mapping[str, LoadedFunction],
        *,
        cors: Mapping[str, CorsSpec] | None = None,
        region: str = DEFAULT_REGION,
        log: TextIO | None = None,
    ) -> None:
        self.router = Router(routes)
        self.functions = dict(functions)
        self.cors = dict(cors or {})
        self.region = region
        self._log = log
        self._log_lock = threading.Lock()

    # -- logging -----------------------------------------------------------------------

    def log(self, message: str, *, with_traceback: bool = False) -> None:
        stream = self._log or sys.stderr
        with self._log_lock:
            stream.write(f"[localapi] {message}\n")
            if with_traceback:
                traceback.print_exc(file=stream)
            stream.flush()

    # -- WSGI --------------------------------------------------------------------------

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

    def _read_body(self, environ: dict[str, Any]) -> bytes | None:
        """The request body, or None when it exceeds MAX_BODY_BYTES (then drained)."""
        stream = environ["wsgi.input"]
        length_header = environ.get("CONTENT_LENGTH") or ""
        if length_header:
            try:
                length = int(length_header)
            except ValueError:
                length = 0
            if length > MAX_BODY_BYTES:
                remaining = min(length, _DRAIN_LIMIT)
                while remaining > 0:
                    chunk = stream.read(min(_CHUNK, remaining))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                return None
            return bytes(stream.read(length)) if length > 0 else b""
        if environ.get("wsgi.input_terminated"):
            data = bytearray()
            while True:
                chunk = stream.read(_CHUNK)
                if not chunk:
                    return bytes(data)
                data.extend(chunk)
                if len(data) > MAX_BODY_BYTES:
                    drained = len(data)
                    while drained < _DRAIN_LIMIT:
                        chunk = stream.read(_CHUNK)
                        if not chunk:
                            break
                        drained += len(chunk)
                    return None
        return b""

    def handle(self, environ: dict[str, Any]) -> GatewayResponse:
        body = self._read_body(environ)
        if body is None:
            response = message_response(413, "Request Entity Too Large")
            response.headers.append(("Connection", "close"))
            return response
        request = incoming_from_environ(environ, body)
        response = self._handle_request(request)
        response.headers.append(("apigw-requestid", request.request_id))
        return response

    def _cors_for(self, route: RouteSpec | None) -> CorsSpec | None:
        if route is not None:
            return self.cors.get(route.api_id)
        if len(self.cors) == 1:
            return next(iter(self.cors.values()))
        return None

    def _handle_request(self, request: IncomingRequest) -> GatewayResponse:
        origin = request.headers.get("origin")
        if (
            request.method == "OPTIONS"
            and origin
            and "access-control-request-method" in request.headers
            and self.cors
        ):
            matched = self.router.match(
                request.headers["access-control-request-method"].upper(), request.path
            )
            cors = self._cors_for(matched[0] if matched else None)
            if cors is not None:
                return _preflight(cors, request)

        matched = self.router.match(request.method, request.path)
        if matched is None:
            return message_response(404, "Not Found")
        route, path_parameters = matched
        response = self._invoke_route(request, route, path_parameters)
        cors = self._cors_for(route)
        if cors is not None and origin:
            _apply_cors(cors, origin, response)
        return response

    def _invoke_route(
        self, request: IncomingRequest, route: RouteSpec, path_parameters: dict[str, str]
    ) -> GatewayResponse:
        authorizer_context: Any = False
        if route.authorizer is not None:
            outcome = self._authorize(request, route, path_parameters)
            if isinstance(outcome, GatewayResponse):
                return outcome
            authorizer_context = outcome.context
        function = self.functions[route.function_id]
        event = http_event(request, route.route_key, path_parameters, authorizer_context)
        try:
            result, elapsed = function.invoke(event)
        except Exception as exc:
            self.log(
                f"{route.function_id} raised {type(exc).__name__} on {route.route_key} "
                f"(request {request.request_id})",
                with_traceback=True,
            )
            return message_response(500, "Internal Server Error")
        self._warn_if_slow(function, elapsed)
        try:
            return response_from_result(result)
        except InvalidResponse as exc:
            self.log(f"{route.function_id} returned an unusable response: {exc}")
            return message_response(500, "Internal Server Error")

    def _authorize(
        self, request: IncomingRequest, route: RouteSpec, path_parameters: dict[str, str]
    ) -> Decision | GatewayResponse:
        spec = route.authorizer
        assert spec is not None
        identity: list[str] = []
        for header in spec.identity_headers:
            value = request.headers.get(header.lower(), "")
            if not value:
                return message_response(401, "Unauthorized")
            identity.append(value)
        query = request.query_parameters
        for name in spec.identity_query_strings:
            value = query.get(name, "")
            if not value:
                return message_response(401, "Unauthorized")
            identity.append(value)
        function = self.functions[spec.function_id]
        event = authorizer_event(request, route.route_key, path_parameters, identity, self.region)
        try:
            result, elapsed = function.invoke(event)
        except Exception as exc:
            self.log(
                f"authorizer {spec.function_id} raised {type(exc).__name__} on "
                f"{route.route_key} (request {request.request_id})",
                with_traceback=True,
            )
            return message_response(500, "Internal Server Error")
        self._warn_if_slow(function, elapsed)
        try:
            decision = decide(result, spec, route_arn(request, self.region))
        except InvalidResponse as exc:
            self.log(f"authorizer {spec.function_id} returned a malformed response: {exc}")
            return message_response(500, "Internal Server Error")
        if not decision.authorized:
            return message_response(403, "Forbidden")
        return decision

    def _warn_if_slow(self, function: LoadedFunction, elapsed: float) -> None:
        if elapsed > function.spec.timeout_seconds:
            self.log(
                f"{function.spec.logical_id} took {elapsed:.2f}s, more than its Timeout of "
                f"{function.spec.timeout_seconds:g}s: Lambda would have stopped it"
            )


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _origin_allowed(cors: CorsSpec, origin: str) -> bool:
    return "*" in cors.allow_origins or origin.lower() in (o.lower() for o in cors.allow_origins)


def _allow_origin_value(cors: CorsSpec, origin: str) -> str:
    return "*" if "*" in cors.allow_origins and not cors.allow_credentials else origin


def _preflight(cors: CorsSpec, request: IncomingRequest) -> GatewayResponse:
    origin = request.headers.get("origin", "")
    headers: list[tuple[str, str]] = []
    method = request.headers.get("access-control-request-method", "").upper()
    requested_headers = [
        h.strip().lower()
        for h in request.headers.get("access-control-request-headers", "").split(",")
        if h.strip()
    ]
    method_ok = "*" in cors.allow_methods or method in cors.allow_methods
    headers_ok = "*" in cors.allow_headers or all(
        h in cors.allow_headers for h in requested_headers
    )
    if _origin_allowed(cors, origin) and method_ok and headers_ok:
        headers.append(("Access-Control-Allow-Origin", _allow_origin_value(cors, origin)))
        headers.append(
            (
                "Access-Control-Allow-Methods",
                method if "*" in cors.allow_methods else ",".join(cors.allow_methods),
            )
        )
        if requested_headers:
            headers.append(
                (
                    "Access-Control-Allow-Headers",
                    ",".join(requested_headers)
                    if "*" in cors.allow_headers
                    else ",".join(cors.allow_headers),
                )
            )
        if cors.allow_credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        if cors.max_age is not None:
            headers.append(("Access-Control-Max-Age", str(cors.max_age)))
    headers.append(("Vary", "Origin"))
    return GatewayResponse(204, headers, b"")


def _apply_cors(cors: CorsSpec, origin: str, response: GatewayResponse) -> None:
    """API Gateway replaces the integration's CORS headers with its configured ones."""
    response.headers = [
        (name, value)
        for name, value in response.headers
        if not name.lower().startswith("access-control-")
    ]
    if not _origin_allowed(cors, origin):
        return
    response.headers.append(("Access-Control-Allow-Origin", _allow_origin_value(cors, origin)))
    if cors.allow_credentials:
        response.headers.append(("Access-Control-Allow-Credentials", "true"))
    if cors.expose_headers:
        response.headers.append(("Access-Control-Expose-Headers", ",".join(cors.expose_headers)))
    response.headers.append(("Vary", "Origin"))
