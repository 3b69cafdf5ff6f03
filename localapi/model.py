"""What the local API serves, read from the template, and what it refuses to guess.

Every resource type of the template is either emulated (the functions, the HTTP API,
DynamoDB tables, secrets, SSM parameters, SQS queues and the event source mappings that
feed them to functions) or knowingly left out: what only AWS enforces (IAM, KMS, resource
and queue policies, log groups, the rotation schedule) and the layer, which is installed in
the virtualenv. Every property of an emulated resource is either used or
knowingly without local effect (throttling, tracing, access logs ...). Anything else: a
new resource type or property, an event other than HttpApi, an authorizer that answers
IAM policies, payload format 1.0, stops the start-up with an error naming the resource
and the property, so that the local API never serves something AWS would not.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localapi.template import (
    NO_VALUE,
    QUEUE,
    Resolver,
    TemplateError,
    cfn_string,
    check_intrinsics,
)

FUNCTION = "AWS::Serverless::Function"
HTTP_API = "AWS::Serverless::HttpApi"
TABLE = "AWS::DynamoDB::Table"
SECRET = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type
PARAMETER = "AWS::SSM::Parameter"
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


def _known(*names: str, **shapes: Any) -> dict[str, Any]:
    """A map's keys the local API knows: ``names`` take any value, ``shapes`` a nested map
    of known keys (``"*"`` for any key)."""
    return {**dict.fromkeys(names), **shapes}


_FUNCTION = _known(
    *("CodeUri", "Handler", "Runtime", "Timeout", "MemorySize"),
    # no local effect
    *("Description", "Architectures", "Tracing", "Layers", "Policies", "LoggingConfig"),
    "ReservedConcurrentExecutions",
    Environment=_known("Variables"),
    Events={
        "*": _known(
            "Type",  # HttpApi only: checked with the routes
            Properties=_known(
                "ApiId", "Method", "Path", "PayloadFormatVersion", Auth=_known("Authorizer")
            ),
        )
    },
)
PROPERTIES: dict[str, dict[str, Any]] = {
    FUNCTION: _FUNCTION,
    HTTP_API: _known(
        # throttling, access logs, deployment checks: AWS only
        *("Description", "FailOnWarnings", "DefaultRouteSettings", "AccessLogSettings"),
        Auth=_known(
            "DefaultAuthorizer",
            Authorizers={
                "*": _known(
                    *("FunctionArn", "AuthorizerPayloadFormatVersion", "EnableSimpleResponses"),
                    "EnableFunctionDefaultPermissions",  # lets API Gateway invoke it
                    # ReauthorizeEvery: the local API never caches authorizer results (§2).
                    Identity=_known("Headers", "ReauthorizeEvery"),
                )
            },
        ),
        CorsConfiguration=_known(
            "AllowOrigins", "AllowCredentials", "AllowMethods", "AllowHeaders", "MaxAge"
        ),
    ),
    TABLE: _known(
        *("AttributeDefinitions", "KeySchema", "BillingMode"),
        # no local effect
        *("PointInTimeRecoverySpecification", "DeletionProtectionEnabled", "SSESpecification"),
        TimeToLiveSpecification=_known("AttributeName", "Enabled"),
    ),
    SECRET: _known("Name", "Description", "SecretString", "KmsKeyId"),
    PARAMETER: _known("Name", "Description", "Type", "Value"),
    QUEUE: _known(
        *("QueueName", "VisibilityTimeout", "RedrivePolicy", "DelaySeconds"),
        "MessageRetentionPeriod",
        # no local effect: moto encrypts nothing
        *("SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds"),
    ),
    EVENT_SOURCE_MAPPING: _known(
        *("EventSourceArn", "FunctionName", "BatchSize", "FunctionResponseTypes", "Enabled"),
        # no local effect: the poller hands a job over as soon as it is due
        "MaximumBatchingWindowInSeconds",
    ),
}
RESOURCE = _known(
    "Type", "Properties", "Metadata", "DependsOn", "DeletionPolicy", "UpdateReplacePolicy"
)
# What only AWS enforces (moto enforces no IAM or key policy), and the layer, which is
# installed in the virtualenv.
LEFT_OUT = frozenset(
    {
        "AWS::Serverless::LayerVersion",
        "AWS::IAM::Role",
        "AWS::KMS::Key",
        "AWS::KMS::Alias",
        "AWS::Logs::LogGroup",
        "AWS::Lambda::Permission",
        "AWS::SecretsManager::ResourcePolicy",
        "AWS::SecretsManager::RotationSchedule",
        "AWS::SQS::QueuePolicy",
        # The optional custom domain (ApiDomainName): DNS and TLS exist only in AWS; the
        # local API answers on its own address whatever the domain.
        "AWS::ApiGatewayV2::DomainName",
        "AWS::ApiGatewayV2::ApiMapping",
        "AWS::Route53::RecordSet",
        # Alarms and their topic: CloudWatch and SNS exist only in AWS; nothing local to watch.
        "AWS::CloudWatch::Alarm",
        "AWS::SNS::Topic",
        "AWS::SNS::Subscription",
    }
)
DEFAULT_TIMEOUT_SECONDS = 3
DEFAULT_MEMORY_MB = 128


@dataclass(frozen=True)
class AuthorizerSpec:
    """A Lambda REQUEST authorizer, payload 2.0, simple responses."""

    name: str
    function_id: str
    identity_headers: tuple[str, ...]
    # FunctionArn is !ImportValue of another stack's export: function_id is that ARN.
    imported: bool = False


@dataclass(frozen=True)
class RouteSpec:
    """One HttpApi event of a function: ``METHOD /path``."""

    method: str
    path: str
    function_id: str
    authorizer: AuthorizerSpec | None

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class CorsSpec:
    """The HTTP API's CorsConfiguration."""

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...]
    allow_headers: tuple[str, ...]
    allow_credentials: bool
    max_age: int | None


@dataclass
class FunctionSpec:
    """A function the local API invokes (route handler or authorizer)."""

    logical_id: str
    function_name: str
    code_dir: Path
    handler: str
    timeout_seconds: float
    memory_mb: int
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def module_file(self) -> Path:
        return self.code_dir / (self.handler.rpartition(".")[0].replace(".", "/") + ".py")

    @property
    def function_attribute(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class QueueMappingSpec:
    """An AWS::Lambda::EventSourceMapping from an SQS queue of the template to a function."""

    logical_id: str
    queue_id: str
    function_id: str
    batch_size: int
    report_batch_item_failures: bool
    enabled: bool


@dataclass
class AppSpec:
    """Everything the gateway and the queue pollers need from the template."""

    functions: dict[str, FunctionSpec]
    routes: list[RouteSpec]
    cors: CorsSpec | None
    # Every variable the template gives any function: what no other function may see.
    declared_variables: frozenset[str] = frozenset()
    mappings: list[QueueMappingSpec] = field(default_factory=list)


# -- the check -------------------------------------------------------------------------


def _branches(value: Any) -> Iterator[Any]:
    """Each value ``value`` can take through Fn::If (AWS::NoValue left out)."""
    if isinstance(value, dict) and list(value) == ["Fn::If"] and isinstance(value["Fn::If"], list):
        for branch in value["Fn::If"][1:]:
            yield from _branches(branch)
    elif value != {"Ref": "AWS::NoValue"}:
        yield value


_MISSING = object()


def _check_shape(value: Any, shape: Any, where: str) -> None:
    """Refuse a key of ``value`` (in any Fn::If branch) that ``shape`` does not know."""
    if shape is None:
        return
    for branch in _branches(value):
        if not isinstance(branch, dict):
            raise TemplateError(f"{where} must be a map")
        for key, item in branch.items():
            inner = shape.get(key, shape.get("*", _MISSING))
            if inner is _MISSING:
                raise TemplateError(
                    f"{where}.{key} is not implemented by the local API "
                    f"(it knows {', '.join(sorted(shape))} there)"
                )
            _check_shape(item, inner, f"{where}.{key}")


def check_template(template: Mapping[str, Any]) -> None:
    """Refuse, naming resource and property, anything the local API does not implement."""
    transform = template.get("Transform", "AWS::Serverless-2016-10-31")
    if transform != "AWS::Serverless-2016-10-31":
        raise TemplateError(f"Transform {transform!r} is not implemented by the local API")
    _check_shape(template.get("Globals") or {}, {"Function": _FUNCTION}, "Globals")
    apis = []
    for logical_id, resource in template["Resources"].items():
        rtype = resource.get("Type")
        # A Condition only where nothing is emulated: the local API creates every table,
        # secret, queue and function it emulates.
        _check_shape(
            resource, {**RESOURCE, "Condition": None} if rtype in LEFT_OUT else RESOURCE, logical_id
        )
        if rtype not in PROPERTIES and rtype not in LEFT_OUT:
            raise TemplateError(
                f"{logical_id}: resource type {rtype} is neither emulated nor knowingly left "
                "out by the local API"
            )
        if rtype in PROPERTIES:
            _check_shape(resource.get("Properties") or {}, PROPERTIES[rtype], logical_id)
        apis += [logical_id] if rtype == HTTP_API else []
    if len(apis) > 1:
        raise TemplateError(f"the local API serves one {HTTP_API}; the template has {apis}")
    check_intrinsics(template)


# -- the application ---------------------------------------------------------------------


def merge_globals(base: Any, override: Any) -> Any:
    """SAM's Globals merge: maps merge recursively, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_globals(base[key], value) if key in base else value
        return merged
    return copy.deepcopy(override)


def function_properties(template: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    """A function's properties with the template's Globals.Function merged in."""
    own = template["Resources"][logical_id].get("Properties") or {}
    defaults = (template.get("Globals") or {}).get("Function") or {}
    return dict(merge_globals(copy.deepcopy(defaults), own))


def _referenced_id(value: Any, where: str) -> str:
    """The logical id in ``!Ref X`` or ``!GetAtt X.Arn``."""
    if isinstance(value, dict) and list(value) == ["Ref"] and isinstance(value["Ref"], str):
        return value["Ref"]
    arg = value.get("Fn::GetAtt") if isinstance(value, dict) and len(value) == 1 else None
    if isinstance(arg, list) and len(arg) == 2 and arg[1] == "Arn":
        return str(arg[0])
    raise TemplateError(f"{where} must be !Ref or !GetAtt .Arn of a resource, got {value!r}")


def _require(resolver: Resolver, value: Any, expected: str, where: str) -> None:
    actual = resolver.resolve_string(value)
    if actual != expected:
        raise TemplateError(
            f"{where} is {actual!r}; the local API implements only {expected!r}, as the "
            "template uses it"
        )


def _authorizers(
    api_id: str, properties: Mapping[str, Any], resolver: Resolver
) -> tuple[dict[str, AuthorizerSpec], str | None]:
    auth = properties.get("Auth") or {}
    result: dict[str, AuthorizerSpec] = {}
    for name, config in (auth.get("Authorizers") or {}).items():
        at = f"{api_id}.Auth.Authorizers.{name}"
        if "FunctionArn" not in config:
            raise TemplateError(f"{at} has no FunctionArn")
        version = config.get("AuthorizerPayloadFormatVersion", "")
        _require(resolver, version, "2.0", f"{at}.AuthorizerPayloadFormatVersion")
        simple = config.get("EnableSimpleResponses", False)
        _require(resolver, simple, "true", f"{at}.EnableSimpleResponses")
        headers = resolver.resolve((config.get("Identity") or {}).get("Headers") or [])
        arn = config["FunctionArn"]
        imported = isinstance(arn, dict) and list(arn) == ["Fn::ImportValue"]
        result[name] = AuthorizerSpec(
            name=name,
            function_id=(
                resolver.resolve_string(arn)
                if imported
                else _referenced_id(arn, f"{at}.FunctionArn")
            ),
            identity_headers=tuple(cfn_string(header) for header in headers),
            imported=imported,
        )
    default = auth.get("DefaultAuthorizer")
    if default is not None and default not in result:
        raise TemplateError(f"{api_id}.Auth.DefaultAuthorizer {default} is not declared")
    return result, default


def _cors(properties: Mapping[str, Any], resolver: Resolver) -> CorsSpec | None:
    raw = resolver.resolve(properties.get("CorsConfiguration"))
    if raw is None or raw is NO_VALUE:  # e.g. !If [Cond, {...}, !Ref AWS::NoValue]
        return None

    def strings(key: str) -> tuple[str, ...]:
        return tuple(cfn_string(item) for item in raw.get(key) or [])

    max_age = raw.get("MaxAge")
    return CorsSpec(
        allow_origins=strings("AllowOrigins"),
        allow_methods=tuple(method.upper() for method in strings("AllowMethods")),
        allow_headers=tuple(header.lower() for header in strings("AllowHeaders")),
        allow_credentials=cfn_string(raw.get("AllowCredentials", False)) == "true",
        max_age=int(cfn_string(max_age)) if max_age is not None else None,
    )


def _variables(properties: Mapping[str, Any], resolver: Resolver, where: str) -> dict[str, str]:
    try:
        variables = resolver.resolve((properties.get("Environment") or {}).get("Variables") or {})
        return {str(name): cfn_string(value) for name, value in variables.items()}
    except TemplateError as exc:
        raise TemplateError(f"{where}.Environment.Variables: {exc}") from exc


def _function_spec(
    template: Mapping[str, Any], logical_id: str, base_dir: Path, resolver: Resolver
) -> FunctionSpec:
    properties = function_properties(template, logical_id)
    runtime = resolver.resolve_string(properties.get("Runtime", ""))
    if not runtime.startswith("python3"):
        raise TemplateError(f"{logical_id}.Runtime {runtime!r} is not implemented (only python3)")
    code_uri = resolver.resolve(properties.get("CodeUri"))
    if not isinstance(code_uri, str):
        raise TemplateError(f"{logical_id}.CodeUri must be a local folder, got {code_uri!r}")
    handler = resolver.resolve_string(properties.get("Handler", ""))
    if "." not in handler:
        raise TemplateError(f"{logical_id}.Handler {handler!r} is not module.function")
    spec = FunctionSpec(
        logical_id=logical_id,
        function_name=str(resolver.ref(logical_id)),
        code_dir=(base_dir / code_uri).resolve(),
        handler=handler,
        timeout_seconds=float(
            resolver.resolve_string(properties.get("Timeout", DEFAULT_TIMEOUT_SECONDS))
        ),
        memory_mb=int(resolver.resolve_string(properties.get("MemorySize", DEFAULT_MEMORY_MB))),
        environment=_variables(properties, resolver, logical_id),
    )
    if not spec.module_file.is_file():
        raise TemplateError(
            f"{logical_id}: handler {handler!r} needs {spec.module_file}, which does not exist"
        )
    return spec


def _integer(resolver: Resolver, value: Any, where: str, low: int, high: int) -> int:
    text = resolver.resolve_string(value)
    if not text.isdigit() or not low <= int(text) <= high:
        raise TemplateError(f"{where} {text!r} is not an integer from {low} to {high}")
    return int(text)


def _queue_mapping(
    resources: Mapping[str, Any], logical_id: str, resolver: Resolver
) -> QueueMappingSpec:
    """An event source mapping: an SQS queue of the template to a function of it."""
    properties = resources[logical_id].get("Properties") or {}
    source = properties.get("EventSourceArn")
    arg = source.get("Fn::GetAtt") if isinstance(source, dict) and len(source) == 1 else None
    if isinstance(arg, str):
        arg = arg.split(".", 1)
    queue_id = str(arg[0]) if isinstance(arg, list) and len(arg) == 2 else ""
    if arg is None or arg[1] != "Arn" or (resources.get(queue_id) or {}).get("Type") != QUEUE:
        raise TemplateError(
            f"{logical_id}.EventSourceArn must be !GetAtt <queue>.Arn of an {QUEUE} of the "
            f"template (the local API polls only those), got {source!r}"
        )
    function_id = _referenced_id(properties.get("FunctionName"), f"{logical_id}.FunctionName")
    if (resources.get(function_id) or {}).get("Type") != FUNCTION:
        raise TemplateError(f"{logical_id}.FunctionName {function_id} is not an {FUNCTION}")
    batch_size = _integer(
        resolver, properties.get("BatchSize", 10), f"{logical_id}.BatchSize", 1, 10000
    )
    window = properties.get("MaximumBatchingWindowInSeconds", 0)
    if batch_size > 10 and int(resolver.resolve_string(window)) < 1:
        raise TemplateError(
            f"{logical_id}: a BatchSize over 10 needs MaximumBatchingWindowInSeconds of 1 or more"
        )
    types = [cfn_string(t) for t in resolver.resolve(properties.get("FunctionResponseTypes", []))]
    if set(types) - {REPORT_BATCH_ITEM_FAILURES}:
        raise TemplateError(
            f"{logical_id}.FunctionResponseTypes {types} is not implemented by the local API "
            f"(only {REPORT_BATCH_ITEM_FAILURES})"
        )
    return QueueMappingSpec(
        logical_id=logical_id,
        queue_id=queue_id,
        function_id=function_id,
        batch_size=batch_size,
        report_batch_item_failures=REPORT_BATCH_ITEM_FAILURES in types,
        enabled=resolver.resolve_string(properties.get("Enabled", True)) == "true",
    )


def build_app_spec(template: Mapping[str, Any], base_dir: Path, resolver: Resolver) -> AppSpec:
    """Check the template, then collect its routes and the functions they need."""
    check_template(template)
    resources: Mapping[str, Any] = template["Resources"]
    api_id = next((key for key, r in resources.items() if r.get("Type") == HTTP_API), None)
    api = (resources[api_id].get("Properties") or {}) if api_id else {}
    authorizers, default = _authorizers(str(api_id), api, resolver)

    routes: dict[str, RouteSpec] = {}
    needed: set[str] = set()
    declared: set[str] = set()
    for logical_id, resource in resources.items():
        if resource.get("Type") != FUNCTION:
            continue
        environment = function_properties(template, logical_id).get("Environment") or {}
        declared.update(environment.get("Variables") or {})
        for event_name, event in ((resource.get("Properties") or {}).get("Events") or {}).items():
            at = f"{logical_id}.Events.{event_name}.Properties"
            if event.get("Type") != "HttpApi":
                raise TemplateError(
                    f"{logical_id}.Events.{event_name}.Type {event.get('Type')!r} is not "
                    "implemented by the local API (only HttpApi)"
                )
            props = event.get("Properties") or {}
            if api_id is None or _referenced_id(props.get("ApiId"), f"{at}.ApiId") != api_id:
                raise TemplateError(f"{at}.ApiId must be !Ref of the template's {HTTP_API}")
            version = props.get("PayloadFormatVersion", "2.0")  # SAM's default for HttpApi
            _require(resolver, version, "2.0", f"{at}.PayloadFormatVersion")
            path, method = (
                resolver.resolve(props.get("Path")),
                resolver.resolve(props.get("Method")),
            )
            if not isinstance(path, str) or not isinstance(method, str):
                raise TemplateError(f"{at}: Path and Method are required")
            auth_name = (props.get("Auth") or {}).get("Authorizer", default)
            authorizer = None
            if auth_name not in (None, "NONE"):
                if auth_name not in authorizers:
                    raise TemplateError(f"{at}.Auth.Authorizer {auth_name} is not declared")
                authorizer = authorizers[auth_name]
                if not authorizer.imported:  # another stack's function is loaded there
                    needed.add(authorizer.function_id)
            route = RouteSpec(method.upper(), path, logical_id, authorizer)
            if route.route_key in routes:
                raise TemplateError(
                    f"route {route.route_key} is declared twice "
                    f"({routes[route.route_key].function_id} and {logical_id})"
                )
            routes[route.route_key] = route
            needed.add(logical_id)

    mappings = [
        _queue_mapping(resources, logical_id, resolver)
        for logical_id, resource in resources.items()
        if resource.get("Type") == EVENT_SOURCE_MAPPING
    ]
    needed.update(mapping.function_id for mapping in mappings if mapping.enabled)
    functions: dict[str, FunctionSpec] = {}
    for function_id in sorted(needed):
        if (resources.get(function_id) or {}).get("Type") != FUNCTION:
            raise TemplateError(f"{function_id} is not an {FUNCTION}")
        functions[function_id] = _function_spec(template, function_id, base_dir, resolver)
    return AppSpec(
        functions,
        list(routes.values()),
        _cors(api, resolver),
        frozenset(declared),
        mappings,
    )


def _function_variable_sources(template: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    sources = [(template.get("Globals") or {}).get("Function") or {}]
    sources += [
        resource.get("Properties") or {}
        for resource in template["Resources"].values()
        if resource.get("Type") == FUNCTION
    ]
    return [(properties.get("Environment") or {}).get("Variables") or {} for properties in sources]


def parameter_variables(template: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{parameter: [VARIABLE, ...]}``: the function variables that are a plain ``!Ref``
    of each parameter (the environment variables that set it locally)."""
    parameters: Mapping[str, Any] = template.get("Parameters") or {}
    found: dict[str, list[str]] = {}
    for variables in _function_variable_sources(template):
        for name, value in variables.items():
            if isinstance(value, dict) and list(value) == ["Ref"] and value["Ref"] in parameters:
                names = found.setdefault(str(value["Ref"]), [])
                names += [] if name in names else [str(name)]
    return found


def parameters_from_environment(
    template: Mapping[str, Any], environ: Mapping[str, str], *, ignore: frozenset[str]
) -> dict[str, str]:
    """Template parameter values implied by the caller's environment.

    The local API passes its environment through to the functions. Where a function
    variable is a plain ``NAME: !Ref Parameter`` (in Globals or on the function) and the
    environment sets NAME, the parameter takes that value too, so that everything else
    that refers to the parameter resolves as a deploy with that value would:
    ``ALLOWED_ORIGINS=https://app.example.com`` also turns on the HTTP API's
    CorsConfiguration, which reads the AllowedOrigins parameter.
    """
    parameters: Mapping[str, Any] = template.get("Parameters") or {}
    values: dict[str, str] = {}
    for variables in _function_variable_sources(template):
        for name, value in variables.items():
            if name in ignore or name not in environ:
                continue
            if isinstance(value, dict) and list(value) == ["Ref"] and value["Ref"] in parameters:
                values.setdefault(str(value["Ref"]), environ[name])
    return values
