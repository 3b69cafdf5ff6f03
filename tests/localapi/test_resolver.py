"""Template reading: short-form intrinsics, conditions, parameters and physical ids."""

from __future__ import annotations

from typing import Any

import pytest

from localapi.model import build_app_spec
from localapi.template import Resolver, TemplateError, parse_template
from tests.support.paths import LOCALAPI_FIXTURES as FIXTURES


def test_short_form_intrinsics_become_long_form() -> None:
    template = parse_template(
        "Resources:\n  X:\n    Type: T\n    Properties:\n"
        "      A: !Ref P\n      B: !GetAtt Fn.Arn\n      C: !Sub '${AWS::Region}'\n"
        "      D: !If [Cond, !Ref P, !Ref AWS::NoValue]\n"
    )
    properties = template["Resources"]["X"]["Properties"]
    assert properties["A"] == {"Ref": "P"}
    assert properties["B"] == {"Fn::GetAtt": ["Fn", "Arn"]}
    assert properties["C"] == {"Fn::Sub": "${AWS::Region}"}
    assert properties["D"] == {"Fn::If": ["Cond", {"Ref": "P"}, {"Ref": "AWS::NoValue"}]}


def test_parameters_resolve_to_their_default_as_strings(toy_template: dict[str, Any]) -> None:
    resolver = Resolver(toy_template)
    assert resolver.resolve({"Ref": "ToyTtlSeconds"}) == "900"
    assert resolver.resolve({"Ref": "Greeting"}) == "hello"


def test_conditions_pick_the_branch_and_no_value_drops_the_key(
    toy_template: dict[str, Any],
) -> None:
    resolver = Resolver(toy_template, stack_name="my-stack")
    variables = resolver.resolve(toy_template["Globals"]["Function"]["Environment"]["Variables"])
    assert variables["TOY_AUDIENCE"] == "my-stack"
    assert "TOY_NO_VALUE" not in variables
    assert variables["TOY_SUB"] == "my-stack/us-east-1/hello"
    assert variables["TOY_JOIN"] == "a-hello-b"
    with_audience = Resolver(toy_template, parameter_values={"ToyAudience": "aud"})
    assert with_audience.resolve({"Fn::If": ["HasToyAudience", "yes", "no"]}) == "yes"


def test_physical_ids_win_over_defaults(toy_template: dict[str, Any]) -> None:
    resolver = Resolver(toy_template, physical={"ToySecret": {"Ref": "arn:secret"}})
    assert resolver.resolve({"Ref": "ToySecret"}) == "arn:secret"
    assert resolver.resolve({"Ref": "ToyTable"}) == "ToyTable"
    assert resolver.resolve({"Fn::GetAtt": ["EchoFunction", "Arn"]}) == (
        "arn:aws:lambda:us-east-1:123456789012:function:stateless-auth-local-EchoFunction"
    )


def test_unknown_reference_is_a_clear_error(toy_template: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match="Missing"):
        Resolver(toy_template).resolve({"Ref": "Missing"})


def test_app_spec_reads_routes_authorizers_and_merged_environment(
    toy_template: dict[str, Any],
) -> None:
    app = build_app_spec(toy_template, FIXTURES, Resolver(toy_template))
    keys = {route.route_key: route for route in app.routes}
    assert keys["GET /private/echo"].authorizer is not None
    assert keys["GET /private/echo"].authorizer.identity_headers == ("Authorization",)
    assert keys["GET /public/echo"].authorizer is None
    # two authorizers, each its own function (the same code loaded twice)
    enrolling = keys["POST /enrolling/echo"].authorizer
    assert enrolling is not None
    assert (enrolling.name, enrolling.function_id) == (
        "EnrollingToyAuthorizer",
        "EnrollingAuthorizerFunction",
    )
    assert keys["GET /private/echo"].authorizer.function_id == "AuthorizerFunction"
    assert keys["GET /items/{id}"].function_id == "EchoFunction"
    assert set(app.functions) == {
        "AuthorizerFunction",
        "EnrollingAuthorizerFunction",
        "BoomFunction",
        "EchoFunction",
        "StoreFunction",
    }
    echo = app.functions["EchoFunction"]
    assert echo.environment["ONLY_ON_ECHO"] == "echo-only"
    assert echo.environment["GREETING"] == "hello"
    assert echo.timeout_seconds == 3
    assert echo.memory_mb == 256
    assert "ONLY_ON_ECHO" not in app.functions["BoomFunction"].environment
    assert app.functions["EnrollingAuthorizerFunction"].environment["TOY_ACCEPT_ENROLLING"] == (
        "true"
    )
    assert "TOY_ACCEPT_ENROLLING" not in app.functions["AuthorizerFunction"].environment
    assert (
        app.functions["EnrollingAuthorizerFunction"].code_dir
        == app.functions["AuthorizerFunction"].code_dir
    )
    assert {"ONLY_ON_ECHO", "ONLY_ON_STORE", "GREETING"} <= app.declared_variables
    assert app.cors is None
