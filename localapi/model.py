"""What the local API serves, read from the template: functions, routes, authorizers."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localapi.template import NO_VALUE, Resolver, TemplateError, cfn_string

FUNCTION_TYPES = ("AWS::Serverless::Function",)
HTTP_API_TYPE = "AWS::Serverless::HttpApi"
IMPLICIT_HTTP_API = "ServerlessHttpApi"
DEFAULT_TIMEOUT_SECONDS = 3
DEFAULT_MEMORY_MB = 128


@dataclass(frozen=True)
class AuthorizerSpec:
    """A Lambda REQUEST authorizer of an HTTP API."""

    name: str
    function_id: str
    identity_headers: tuple[str, ...]
    identity_query_strings: tuple[str, ...]
    simple_responses: bool


@dataclass(frozen=True)
class RouteSpec:
    """One HttpApi event of a function: ``METHOD /path`` (or ``$default``)."""

    api_id: str
    method: str
    path: str
    function_id: str
    authorizer: AuthorizerSpec | None

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class CorsSpec:
    """An HttpApi CorsConfiguration."""

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...]
    allow_headers: tuple[str, ...]
    expose_headers: tuple[str, ...]
    allow_credentials: bool
    max_age: int | None


@dataclass
class FunctionSpec:
    """A function the local API invokes (route handler or authorizer)."""

    logical_id: str
    function_name: str
    code_dir: Path
    handler: str
    runtime: str
    timeout_seconds: float
    memory_mb: int
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def module_file(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def function_attribute(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass
class AppSpec:
    """Everything the gateway needs from the template."""

    functions: dict[str, FunctionSpec]
    routes: list[RouteSpec]
    cors: dict[str, CorsSpec]


def merge_globals(base: Any, override: Any) -> Any:
    """SAM's Globals merge: maps merge recursively, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_globals(base[key], value) if key in base else value
        return merged
    return copy.deepcopy(override)


def _properties(template: Mapping[str, Any], logical_id: str, globals_key: str) -> dict[str, Any]:
    resource = template["Resources"][logical_id] or {}
    own = resource.get("Properties") or {}
    defaults = ((template.get("Globals") or {}).get(globals_key)) or {}
    merged = merge_globals(copy.deepcopy(defaults), own)
    return merged if isinstance(merged, dict) else {}


def _logical_id_of(value: Any, where: str) -> str:
    """The logical id in ``!Ref X``, ``!GetAtt X.Arn`` or ``{"Fn::GetAtt": [X, Arn]}``."""
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), *_ = value.items()
        if key == "Ref" and isinstance(arg, str):
            return arg
        if key == "Fn::GetAtt":
            if isinstance(arg, str):
                return arg.split(".", 1)[0]
            if isinstance(arg, list) and arg and isinstance(arg[0], str):
                return arg[0]
        if key == "Fn::Sub" and isinstance(arg, str):
            match = re.fullmatch(r"\$\{([A-Za-z0-9]+)(\.Arn)?\}", arg)
            if match:
                return match.group(1)
    if isinstance(value, str):
        match = re.search(r":function:([A-Za-z0-9-_]+)", value)
        if match:
            return match.group(1)
    raise TemplateError(f"{where}: cannot tell which function {value!r} refers to")


def _identity_source(raw: str) -> tuple[str, str] | None:
    match = re.fullmatch(r"\$request\.(header|querystring)\.(.+)", raw.strip())
    return (match.group(1), match.group(2)) if match else None


def _authorizers(
    template: Mapping[str, Any], api_id: str, properties: Mapping[str, Any], resolver: Resolver
) -> tuple[dict[str, AuthorizerSpec], str | None]:
    auth = properties.get("Auth") or {}
    result: dict[str, AuthorizerSpec] = {}
    for name, config in (auth.get("Authorizers") or {}).items():
        config = config or {}
        if "JwtConfiguration" in config:
            raise TemplateError(f"{api_id}: JWT authorizer {name} is not supported locally")
        if "FunctionArn" not in config:
            raise TemplateError(f"{api_id}: authorizer {name} has no FunctionArn")
        function_id = _logical_id_of(config["FunctionArn"], f"{api_id} authorizer {name}")
        version = cfn_string(resolver.resolve(config.get("AuthorizerPayloadFormatVersion", "2.0")))
        if version not in ("2.0", "2"):
            raise TemplateError(
                f"{api_id}: authorizer {name} uses payload format {version}; only 2.0 is "
                "supported locally"
            )
        identity = config.get("Identity") or {}
        headers = tuple(cfn_string(h) for h in resolver.resolve(identity.get("Headers") or []))
        queries = tuple(cfn_string(q) for q in resolver.resolve(identity.get("QueryStrings") or []))
        simple = resolver.resolve(config.get("EnableSimpleResponses", False))
        result[name] = AuthorizerSpec(
            name=name,
            function_id=function_id,
            identity_headers=headers,
            identity_query_strings=queries,
            simple_responses=cfn_string(simple) == "true",
        )
    default = auth.get("DefaultAuthorizer")
    if default is not None:
        default = cfn_string(resolver.resolve(default))
        if default not in result:
            raise TemplateError(f"{api_id}: DefaultAuthorizer {default} is not declared")
    return result, default


def _cors(properties: Mapping[str, Any], resolver: Resolver) -> CorsSpec | None:
    raw = resolver.resolve(properties.get("CorsConfiguration"))
    if raw is None or raw is False or raw is NO_VALUE:  # e.g. !If [Cond, {...}, !Ref AWS::NoValue]
        return None
    if raw is True:
        return CorsSpec(("*",), ("*",), ("*",), (), False, None)
    if not isinstance(raw, dict):
        raise TemplateError(f"CorsConfiguration must be a boolean or a map, got {raw!r}")

    def strings(key: str) -> tuple[str, ...]:
        return tuple(cfn_string(item) for item in raw.get(key) or [])

    max_age = raw.get("MaxAge")
    return CorsSpec(
        allow_origins=strings("AllowOrigins"),
        allow_methods=tuple(m.upper() for m in strings("AllowMethods")),
        allow_headers=tuple(h.lower() for h in strings("AllowHeaders")),
        expose_headers=strings("ExposeHeaders"),
        allow_credentials=cfn_string(raw.get("AllowCredentials", False)) == "true",
        max_age=int(cfn_string(max_age)) if max_age is not None else None,
    )


def _function_spec(
    template: Mapping[str, Any], logical_id: str, base_dir: Path, resolver: Resolver
) -> FunctionSpec:
    properties = _properties(template, logical_id, "Function")
    runtime = cfn_string(resolver.resolve(properties.get("Runtime", "")))
    if not runtime.startswith("python"):
        raise TemplateError(f"{logical_id}: runtime {runtime!r} is not supported locally")
    package_type = properties.get("PackageType", "Zip")
    if package_type != "Zip":
        raise TemplateError(f"{logical_id}: PackageType {package_type} is not supported locally")
    code_uri = resolver.resolve(properties.get("CodeUri"))
    if not isinstance(code_uri, str):
        raise TemplateError(f"{logical_id}: CodeUri must be a local folder, got {code_uri!r}")
    handler = cfn_string(resolver.resolve(properties.get("Handler", "")))
    if "." not in handler:
        raise TemplateError(f"{logical_id}: Handler {handler!r} is not module.function")
    environment: dict[str, str] = {}
    variables = resolver.resolve((properties.get("Environment") or {}).get("Variables") or {})
    if not isinstance(variables, dict):
        raise TemplateError(f"{logical_id}: Environment.Variables must be a map")
    for name, value in variables.items():
        try:
            environment[str(name)] = cfn_string(value)
        except TemplateError as exc:
            raise TemplateError(f"{logical_id}: environment variable {name}: {exc}") from exc
    function_name = properties.get("FunctionName")
    spec = FunctionSpec(
        logical_id=logical_id,
        function_name=(
            resolver.resolve_string(function_name)
            if function_name is not None
            else f"{resolver.stack_name}-{logical_id}"
        ),
        code_dir=(base_dir / code_uri).resolve(),
        handler=handler,
        runtime=runtime,
        timeout_seconds=float(
            cfn_string(resolver.resolve(properties.get("Timeout", DEFAULT_TIMEOUT_SECONDS)))
        ),
        memory_mb=int(
            cfn_string(resolver.resolve(properties.get("MemorySize", DEFAULT_MEMORY_MB)))
        ),
        environment=environment,
    )
    if not spec.module_file.is_file():
        raise TemplateError(
            f"{logical_id}: handler {handler!r} needs {spec.module_file}, which does not exist"
        )
    return spec


def build_app_spec(template: Mapping[str, Any], base_dir: Path, resolver: Resolver) -> AppSpec:
    """Collect the routes of every HttpApi event and the functions they need."""
    resources: Mapping[str, Any] = template["Resources"]
    apis: dict[str, tuple[dict[str, AuthorizerSpec], str | None]] = {}
    cors: dict[str, CorsSpec] = {}
    for logical_id, resource in resources.items():
        if (resource or {}).get("Type") != HTTP_API_TYPE:
            continue
        if not resolver.resource_enabled(logical_id):
            continue
        properties = _properties(template, logical_id, "HttpApi")
        apis[logical_id] = _authorizers(template, logical_id, properties, resolver)
        cors_spec = _cors(properties, resolver)
        if cors_spec is not None:
            cors[logical_id] = cors_spec

    routes: list[RouteSpec] = []
    needed: set[str] = set()
    for logical_id, resource in resources.items():
        if (resource or {}).get("Type") not in FUNCTION_TYPES:
            continue
        if not resolver.resource_enabled(logical_id):
            continue
        events = ((resource.get("Properties") or {}).get("Events")) or {}
        for event_name, event in events.items():
            if (event or {}).get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            api_id = (
                _logical_id_of(props["ApiId"], f"{logical_id}.{event_name}")
                if "ApiId" in props
                else IMPLICIT_HTTP_API
            )
            if api_id == IMPLICIT_HTTP_API and api_id not in apis:
                globals_api = (template.get("Globals") or {}).get("HttpApi") or {}
                apis[api_id] = _authorizers(template, api_id, globals_api, resolver)
            if api_id not in apis:
                raise TemplateError(f"{logical_id}.{event_name}: unknown HttpApi {api_id}")
            authorizers, default = apis[api_id]
            version = cfn_string(resolver.resolve(props.get("PayloadFormatVersion", "2.0")))
            if version not in ("2.0", "2"):
                raise TemplateError(
                    f"{logical_id}.{event_name}: payload format {version} is not supported "
                    "locally (only 2.0)"
                )
            path = resolver.resolve(props.get("Path"))
            method = resolver.resolve(props.get("Method"))
            if path is None and method is None:
                path, method = "$default", "ANY"
            if not isinstance(path, str) or not isinstance(method, str):
                raise TemplateError(f"{logical_id}.{event_name}: Path and Method are required")
            method = method.upper()
            if method == "X-AMAZON-APIGATEWAY-ANY-METHOD":
                method = "ANY"
            auth_name = ((props.get("Auth") or {}).get("Authorizer")) or default
            authorizer: AuthorizerSpec | None = None
            if auth_name is not None and auth_name != "NONE":
                if auth_name == "AWS_IAM":
                    raise TemplateError(f"{logical_id}.{event_name}: AWS_IAM auth is not supported")
                if auth_name not in authorizers:
                    raise TemplateError(
                        f"{logical_id}.{event_name}: authorizer {auth_name} is not declared on "
                        f"{api_id}"
                    )
                authorizer = authorizers[auth_name]
                needed.add(authorizer.function_id)
            route = RouteSpec(api_id, method, path, logical_id, authorizer)
            clash = [r for r in routes if r.route_key == route.route_key]
            if clash:
                raise TemplateError(
                    f"route {route.route_key} is declared twice "
                    f"({clash[0].function_id} and {logical_id})"
                )
            routes.append(route)
            needed.add(logical_id)

    functions: dict[str, FunctionSpec] = {}
    for function_id in sorted(needed):
        resource = resources.get(function_id)
        if (resource or {}).get("Type") not in FUNCTION_TYPES:
            raise TemplateError(f"{function_id} is not an AWS::Serverless::Function")
        functions[function_id] = _function_spec(template, function_id, base_dir, resolver)
    return AppSpec(functions=functions, routes=routes, cors=cors)


def parameters_from_environment(
    template: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    ignore: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """Template parameter values implied by the caller's environment.

    The local API passes its environment through to the functions. Where a function
    variable is a plain ``NAME: !Ref Parameter`` (in Globals or on the function) and the
    environment sets NAME, the parameter takes that value too, so that everything else in
    the template that refers to the parameter resolves as a deploy with that value would:
    ``ALLOWED_ORIGINS=https://app.example.com`` also turns on the HTTP API's
    CorsConfiguration, which reads the AllowedOrigins parameter. Variables in ``ignore``
    are left alone.
    """
    parameters: Mapping[str, Any] = template.get("Parameters") or {}
    sources: list[Any] = [((template.get("Globals") or {}).get("Function") or {})]
    for resource in (template.get("Resources") or {}).values():
        if (resource or {}).get("Type") in FUNCTION_TYPES:
            sources.append(resource.get("Properties") or {})
    values: dict[str, str] = {}
    for properties in sources:
        variables = ((properties or {}).get("Environment") or {}).get("Variables") or {}
        for name, value in variables.items():
            if name in ignore or name not in environ:
                continue
            if isinstance(value, dict) and len(value) == 1 and value.get("Ref") in parameters:
                values.setdefault(str(value["Ref"]), environ[name])
    return values
