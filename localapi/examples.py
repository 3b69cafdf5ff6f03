"""Another stack served beside the main one: ``python -m localapi --example protected-api``.

An example stack (``examples/<name>/template.yaml``) is an HTTP API of its own whose
routes use the main stack's authorizer through ``Fn::ImportValue`` of the main stack's
exports (its Outputs' ``Export.Name``, resolved as they would be deployed). Locally its
routes are served on the same address as the main API's (their paths must differ), its
functions are loaded in this process with the managed AWS settings, and an authorizer
imported from the main stack is the main stack's loaded function.

Only the main stack's exports resolve: any other ``Fn::ImportValue`` stops the start-up.
An example parameter named ``AuthStackName`` (the stack whose exports it imports) takes
the local main stack's name. The example's own CORS configuration is not applied: the
routes share the main API's (``localapi/gateway.py`` serves one).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localapi.model import RouteSpec, build_app_spec, check_template
from localapi.runtime import LoadedFunction
from localapi.template import Resolver, TemplateError, load_template

if TYPE_CHECKING:
    from localapi.server import LocalApi

EXAMPLES_DIR = "examples"
# The parameter of an example stack that names the stack whose exports it imports.
AUTH_STACK_PARAMETER = "AuthStackName"


def example_template(name_or_path: str, base_dir: Path) -> Path:
    """``protected-api`` -> ``<base_dir>/examples/protected-api/template.yaml``; a path to
    a template or to a folder holding one is taken as it is."""
    candidates = [Path(name_or_path), base_dir / EXAMPLES_DIR / name_or_path]
    for candidate in candidates:
        if candidate.is_dir():
            candidate = candidate / "template.yaml"
        if candidate.is_file():
            return candidate
    known = sorted(p.parent.name for p in (base_dir / EXAMPLES_DIR).glob("*/template.yaml"))
    raise TemplateError(
        f"no example {name_or_path!r}: neither a template nor one of "
        f"{base_dir / EXAMPLES_DIR}/<name>/template.yaml ({', '.join(known) or 'none'})"
    )


def stack_exports(template: Mapping[str, Any], resolver: Resolver) -> dict[str, Any]:
    """``{export name: value}`` of a template's Outputs, as deployed with ``resolver``'s
    values (an Output whose Condition is false exports nothing)."""
    exports: dict[str, Any] = {}
    for name, output in (template.get("Outputs") or {}).items():
        export = (output or {}).get("Export")
        if not export:
            continue
        condition = output.get("Condition")
        if condition is not None and not resolver.condition(str(condition)):
            continue
        try:
            exports[resolver.resolve_string(export["Name"])] = resolver.resolve(output["Value"])
        except TemplateError as exc:
            raise TemplateError(f"Outputs.{name}: {exc}") from exc
    return exports


def load_example(
    api: LocalApi,
    path: Path,
    main_template: Mapping[str, Any],
    main_resolver: Resolver,
    managed: Mapping[str, str],
) -> list[RouteSpec]:
    """Load the example stack at ``path`` into ``api.functions``; return its routes."""
    template = load_template(path)
    check_template(template)
    parameters = template.get("Parameters") or {}
    values = {AUTH_STACK_PARAMETER: api.stack_name} if AUTH_STACK_PARAMETER in parameters else {}
    resolver = Resolver(
        template,
        stack_name=f"{api.stack_name}-{path.parent.name}",
        region=api.region,
        parameter_values=values,
        imports=stack_exports(main_template, main_resolver),
    )
    app = build_app_spec(template, path.resolve().parent, resolver)
    declared = api.app.declared_variables if api.app else frozenset()
    by_arn = {function.arn: function for function in api.functions.values()}
    taken = {(route.method, route.path) for route in api.app.routes} if api.app else set()
    for route in app.routes:
        if (route.method, route.path) in taken:
            raise TemplateError(
                f"{path}: route {route.route_key} is the main stack's too (one address serves both)"
            )
        if route.authorizer is not None and route.authorizer.imported:
            if route.authorizer.function_id not in by_arn:
                raise TemplateError(
                    f"{path}: authorizer {route.authorizer.name} imports "
                    f"{route.authorizer.function_id}, which is no function of the main stack"
                )
            api.functions.setdefault(
                route.authorizer.function_id, by_arn[route.authorizer.function_id]
            )
    for function_id, spec in app.functions.items():
        if function_id in api.functions:
            raise TemplateError(f"{path}: function {function_id} is the main stack's too")
        passed = {
            name: value
            for name, value in api.process_environ.items()
            if not name.startswith("AWS_") and name not in declared
        }
        environment = {**passed, **spec.environment, **managed}
        function = LoadedFunction(spec, region=api.region)
        function.load(environment)
        api.functions[function_id] = function
        api.environments[function_id] = environment
    for route in sorted(app.routes, key=lambda r: (r.path, r.method)):
        auth = f"authorizer {route.authorizer.name}" if route.authorizer else "no auth"
        api.say(
            f"example {path.parent.name}: route {route.route_key} -> {route.function_id} ({auth})"
        )
    return list(app.routes)
