"""openapi.yaml is valid OpenAPI 3.1, describes exactly the routes of template.yaml (and
their authorizer), and the checks every end-to-end call goes through catch what it does
not describe (docs/api.md)."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator, validate

from localapi.api_docs import collides, openapi30
from localapi.model import build_app_spec
from localapi.server import local_parameter_values
from localapi.template import Resolver, load_template
from tests.support import openapi
from tests.support.paths import ROOT

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
BASE = "http://127.0.0.1:3000"
# The routes behind MfaEnrollmentAuthorizer take an access token or, under MFA=required,
# the enrol-purpose mfa_token as the Bearer: either security scheme (issue 14).
ENROLMENT_AUTHORIZER = "MfaEnrollmentAuthorizer"
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
BEARER_OR_ENROLMENT_TOKEN: list[dict[str, list[str]]] = [{"bearer": []}, {"mfaEnrollmentToken": []}]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.load_document()


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def template_authorizers() -> dict[tuple[str, str], str | None]:
    """(method, path) -> the name of the route's authorizer, None for none."""
    template = load_template(ROOT / "template.yaml")
    local = local_parameter_values(template, {}, BASE)
    app = build_app_spec(template, ROOT, Resolver(template, parameter_values=local))
    return {
        (route.method, route.path): None if route.authorizer is None else route.authorizer.name
        for route in app.routes
    }


def template_routes() -> dict[tuple[str, str], bool]:
    """(method, path) -> whether the route is behind an authorizer."""
    return {key: name is not None for key, name in template_authorizers().items()}


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)
    openapi.openapi_for(BASE)  # openapi-core loads (and checks) it too


def test_the_swagger_ui_rendition_is_valid_openapi_3_0(document: dict[str, Any]) -> None:
    rendition = openapi30(document)
    assert rendition["openapi"] == "3.0.3"
    validate(rendition, cls=OpenAPIV30SpecValidator)
    assert operations(rendition).keys() == operations(document).keys()


def test_the_operations_are_exactly_the_template_routes(document: dict[str, Any]) -> None:
    routes, documented = template_routes(), operations(document)
    assert routes, "template.yaml has no HttpApi routes"
    missing = sorted(set(routes) - set(documented))
    extra = sorted(set(documented) - set(routes))
    assert not missing, f"template.yaml routes that openapi.yaml lacks: {missing}"
    assert not extra, f"openapi.yaml operations that template.yaml does not serve: {extra}"


def test_the_routes_behind_the_authorizer_and_only_they_need_the_bearer_token(
    document: dict[str, Any],
) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["refreshCookie"]["in"] == "cookie"
    assert schemes["refreshCookie"]["name"] == "__Host-refresh_token"
    enrolment = schemes["mfaEnrollmentToken"]
    assert enrolment == {**enrolment, "type": "http", "scheme": "bearer"}
    authorizers = template_authorizers()
    assert ENROLMENT_AUTHORIZER in authorizers.values(), "no route uses the enrolment authorizer"
    for key, authorizer in authorizers.items():
        security = operations(document)[key].get("security", document.get("security"))
        assert security is not None, f"{key} says nothing about security"
        if authorizer is not None:
            expected = BEARER_OR_ENROLMENT_TOKEN if authorizer == ENROLMENT_AUTHORIZER else BEARER
            assert security == expected, key
            responses = operations(document)[key]["responses"]
            assert {"401", "403"} <= responses.keys(), f"{key}: the gateway's 401 and 403"
        else:
            assert all(
                "bearer" not in requirement and "mfaEnrollmentToken" not in requirement
                for requirement in security
            ), key


def test_every_state_changing_route_lists_its_refusals(document: dict[str, Any]) -> None:
    for (method, path), operation in operations(document).items():
        responses = operation["responses"]
        if method in ("POST", "DELETE"):
            assert {"403", "413", "415"} <= responses.keys(), f"{method} {path}"
        assert "500" in responses, f"{method} {path}"


def test_every_429_and_503_says_retry_after(document: dict[str, Any]) -> None:
    shared = document["components"]["responses"]
    for (method, path), operation in operations(document).items():
        for status in ("429", "503"):
            if status in operation["responses"]:
                ref = operation["responses"][status]["$ref"].rsplit("/", 1)[-1]
                assert "Retry-After" in shared[ref]["headers"], f"{method} {path} {status}"


def test_template_routes_may_not_take_the_local_apis_own_paths() -> None:
    assert collides("/openapi.json")
    assert collides("/docs")
    assert collides("/docs/{proxy+}")
    assert not collides("/auth/login")
    assert not collides("/documents")


# -- the checks (tests/support/openapi.py) ------------------------------------------------


def headers(values: dict[str, str]) -> http.client.HTTPMessage:
    message = http.client.HTTPMessage()
    for name, value in values.items():
        message[name] = value
    return message


JSON = {"Content-Type": "application/json", "Cache-Control": "no-store"}


def check(
    method: str,
    path: str,
    body: Any,
    status: int,
    answer: Any,
    answer_headers: http.client.HTTPMessage | None = None,
) -> None:
    data = None if body is None else json.dumps(body).encode()
    openapi.check(
        BASE,
        method,
        path,
        {"Content-Type": "application/json"},
        data,
        status,
        answer_headers if answer_headers is not None else headers(JSON),
        b"" if answer is None else json.dumps(answer).encode(),
    )


SIGNUP = {"email": "ann@example.com", "password": "correct horse battery staple"}


def test_a_described_call_passes() -> None:
    check("POST", "/auth/signup", SIGNUP, 202, {"email": "ann@example.com"})
    check("POST", "/auth/signup", SIGNUP, 400, {"error": "weak_password", "message": "short"})
    check("GET", "/nowhere", None, 404, {"message": "Not Found"})  # the gateway's answer
    check("GET", "/_localapi/mail", None, 200, {"anything": True})  # not the API


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "answer", "says"),
    [
        ("GET", "/nowhere", None, 200, {}, "no operation"),
        ("POST", "/auth/signup", SIGNUP, 201, {"email": "a"}, "does not match"),
        ("POST", "/auth/signup", SIGNUP, 202, {"email": "a", "extra": 1}, "does not match"),
        ("POST", "/auth/signup", SIGNUP, 400, {"error": "nope", "message": "x"}, "does not match"),
        ("POST", "/auth/signup", {"email": "a"}, 202, {"email": "a"}, "service accepted it"),
        ("GET", "/me", None, 200, {"user_id": "u"}, "service accepted it"),
    ],
)
def test_an_undescribed_route_status_or_shape_fails(
    method: str, path: str, body: Any, status: int, answer: Any, says: str
) -> None:
    with pytest.raises(openapi.OpenApiMismatch, match=says):
        check(method, path, body, status, answer)


def test_a_missing_header_fails() -> None:
    retry = {"error": "too_many_attempts", "message": "later"}
    with pytest.raises(openapi.OpenApiMismatch, match="Retry-After"):
        check("POST", "/auth/login", SIGNUP, 429, retry)
    check("POST", "/auth/login", SIGNUP, 429, retry, headers({**JSON, "Retry-After": "30"}))
