"""Each function is imported with exactly its own environment from the template, as in
Lambda: never another function's variables (the authorizer never sees the signing key
secret's id), and the process's environment is restored afterwards."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from localapi.model import FunctionSpec, build_app_spec
from localapi.runtime import LoadedFunction, exact_environment
from localapi.server import function_environment, local_parameter_values
from localapi.template import Resolver, load_template
from localapi.testing import running_local_api
from tests.support.http_client import Client
from tests.support.paths import LOCALAPI_FIXTURES as FIXTURES
from tests.support.paths import TEMPLATE


def test_exact_environment_replaces_then_restores_os_environ() -> None:
    before = dict(os.environ)
    with exact_environment({"ONLY": "this"}):
        assert dict(os.environ) == {"ONLY": "this"}
    assert dict(os.environ) == before


def test_a_module_is_imported_with_exactly_the_environment_given() -> None:
    spec = FunctionSpec(
        "EnvEchoFunction", "env-echo", FIXTURES / "functions" / "echo", "app.lambda_handler", 3, 128
    )
    before = dict(os.environ)
    function = LoadedFunction(spec)
    function.load({"GREETING": "hi", "AWS_REGION": "eu-west-1"})
    assert function.handler is not None
    seen = function.handler.__globals__["IMPORT_ENV"]
    assert seen["GREETING"] == "hi"
    assert seen["AWS_REGION"] == "eu-west-1"
    assert seen["TOY_TABLE"] is None
    assert dict(os.environ) == before


def test_function_environment_keeps_to_the_function() -> None:
    variables = {"OWN": "t", "TTL": "900", "PORT": "2773"}
    spec = FunctionSpec("F", "f", FIXTURES, "app.lambda_handler", 3, 128, variables)
    caller = {
        "TTL": "5",  # a variable of the function: the caller's value wins
        "OTHERS": "x",  # a variable the template gives another function only
        "KEYS_REFRESH_SECONDS": "1",  # a setting the template does not declare
        "PATH": "/bin",
        "AWS_PROFILE": "prod",  # the caller's AWS settings never pass
        "PORT": "1",
    }
    declared = frozenset({"OWN", "TTL", "PORT", "OTHERS", "ISSUER"})
    managed = {"AWS_REGION": "us-east-1"}
    replaced = {"PORT": "40000", "ISSUER": "http://127.0.0.1:1"}  # only where declared
    assert function_environment(spec, declared, caller, managed, replaced) == {
        "OWN": "t",
        "TTL": "5",
        "KEYS_REFRESH_SECONDS": "1",
        "PATH": "/bin",
        "PORT": "40000",
        "AWS_REGION": "us-east-1",
    }


PROBE = '''"""Stands in for a handler: answers with the environment it was imported with."""
import json
import os

IMPORTED_WITH = dict(os.environ)


def lambda_handler(event, context):
    if event.get("type") == "REQUEST":  # the authorizer
        return {"isAuthorized": True, "context": {"environment": json.dumps(IMPORTED_WITH)}}
    body = {"environment": IMPORTED_WITH, "event": event}
    return {"statusCode": 200, "body": json.dumps(body)}
'''


def get(base_url: str, method: str, path: str, headers: dict[str, str]) -> Any:
    reply = Client(base_url).send(method, path, headers=headers)
    assert reply.status == 200
    return reply.json()


@pytest.mark.e2e
@pytest.mark.xdist_group("localapi")
def test_over_the_real_template_each_function_sees_its_own_variables(tmp_path: Path) -> None:
    """template.yaml as it is, each handler replaced by a probe of its environment."""
    text = TEMPLATE.read_text(encoding="utf-8")
    (tmp_path / "template.yaml").write_text(text, encoding="utf-8")
    template = load_template(TEMPLATE)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            folder = tmp_path / resource["Properties"]["CodeUri"]
            folder.mkdir(parents=True, exist_ok=True)  # the two authorizers share theirs
            (folder / "app.py").write_text(PROBE, encoding="utf-8")
    local = local_parameter_values(template, {}, "http://127.0.0.1:3000")
    app = build_app_spec(template, tmp_path, Resolver(template, parameter_values=local))
    env = {
        "JWKS_MAX_AGE_SECONDS": "120",  # a variable of the jwks function only
        "SIGNING_KEYS_SECRET_ID": "from-the-shell",  # of login, refresh and rotation
        "KEYS_REFRESH_SECONDS": "7",  # a setting the template does not declare
        "AWS_PROFILE": "production",
        # of the enrolment authorizer only: never the default one's, whatever the shell says
        "ACCEPT_MFA_ENROLLMENT_TOKENS": "true",
    }
    with running_local_api(env, template=tmp_path / "template.yaml") as base_url:
        me = get(base_url, "GET", "/me", {"Authorization": "Bearer probe"})
        seen = {
            "AuthorizerFunction": json.loads(
                me["event"]["requestContext"]["authorizer"]["lambda"]["environment"]
            ),
            "MeFunction": me["environment"],
            # the same code (functions/authorizer/), loaded a second time with its own
            "MfaEnrollmentAuthorizerFunction": json.loads(
                get(base_url, "POST", "/auth/mfa/totp/enroll", {"Authorization": "Bearer probe"})[
                    "event"
                ]["requestContext"]["authorizer"]["lambda"]["environment"]
            ),
            "LoginFunction": get(base_url, "POST", "/auth/login", {})["environment"],
            "JwksFunction": get(base_url, "GET", "/.well-known/jwks.json", {})["environment"],
        }
    for function_id, environment in seen.items():
        own = app.functions[function_id].environment
        # of the variables the template declares, exactly the function's own
        assert set(environment) & app.declared_variables == set(own), function_id
        assert environment["KEYS_REFRESH_SECONDS"] == "7"
        if "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT" in own:  # the functions with the extension
            assert environment["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"] != "2773"  # emulator
        assert environment["JWT_ISSUER"] == base_url  # fixed at start-up
        assert environment["AWS_ACCESS_KEY_ID"] == "testing"
        assert "AWS_PROFILE" not in environment
    authorizer, login = seen["AuthorizerFunction"], seen["LoginFunction"]
    assert "SIGNING_KEYS_SECRET_ID" not in authorizer  # in AWS it cannot see it either
    assert "JWKS_MAX_AGE_SECONDS" not in authorizer
    assert "ACCEPT_MFA_ENROLLMENT_TOKENS" not in authorizer
    enrollment = seen["MfaEnrollmentAuthorizerFunction"]
    assert enrollment["ACCEPT_MFA_ENROLLMENT_TOKENS"] == "true"
    # the default authorizer's settings, and that one besides
    assert set(app.functions["MfaEnrollmentAuthorizerFunction"].environment) == set(
        app.functions["AuthorizerFunction"].environment
    ) | {"ACCEPT_MFA_ENROLLMENT_TOKENS"}
    assert authorizer["PUBLIC_KEYS_SECRET_ID"] == login["PUBLIC_KEYS_SECRET_ID"]
    # USERS_TABLE and SESSIONS_TABLE: wherever the template gives them, and only there
    for name in ("USERS_TABLE", "SESSIONS_TABLE"):
        assert (name in authorizer) is (name in app.functions["AuthorizerFunction"].environment)
    assert login["SIGNING_KEYS_SECRET_ID"] == "from-the-shell"
    assert login["USERS_TABLE"] == "UsersTable"
    assert seen["JwksFunction"]["JWKS_MAX_AGE_SECONDS"] == "120"
