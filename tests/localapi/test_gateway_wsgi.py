"""The gateway as a WSGI application (no sockets): CORS and the IAM-policy authorizer."""

from __future__ import annotations

import io
from typing import Any

import pytest
from werkzeug.test import Client

from localapi.gateway import Gateway, decide
from localapi.model import AuthorizerSpec, CorsSpec, FunctionSpec, RouteSpec
from localapi.runtime import LoadedFunction
from tests.localapi.conftest import FIXTURES

CORS = CorsSpec(
    allow_origins=("https://app.example.com",),
    allow_methods=("GET", "POST"),
    allow_headers=("content-type", "authorization"),
    expose_headers=("x-toy",),
    allow_credentials=True,
    max_age=600,
)


@pytest.fixture(scope="module")
def echo() -> LoadedFunction:
    spec = FunctionSpec(
        logical_id="WsgiEchoFunction",
        function_name="wsgi-echo",
        code_dir=FIXTURES / "functions" / "echo",
        handler="app.lambda_handler",
        runtime="python3.13",
        timeout_seconds=3,
        memory_mb=128,
    )
    function = LoadedFunction(spec)
    function.load({"GREETING": "hi"})
    return function


@pytest.fixture
def client(echo: LoadedFunction) -> Client:
    routes = [RouteSpec("Api", "GET", "/echo", "WsgiEchoFunction", None)]
    gateway = Gateway(routes, {"WsgiEchoFunction": echo}, cors={"Api": CORS}, log=io.StringIO())
    return Client(gateway)


def test_preflight_is_answered_by_the_gateway(client: Client) -> None:
    reply = client.options(
        "/echo",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type",
        },
    )
    assert reply.status_code == 204
    assert reply.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert reply.headers["Access-Control-Allow-Methods"] == "GET,POST"
    assert reply.headers["Access-Control-Allow-Credentials"] == "true"
    assert reply.headers["Access-Control-Max-Age"] == "600"


def test_preflight_from_another_origin_gets_no_cors_headers(client: Client) -> None:
    reply = client.options(
        "/echo",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert reply.status_code == 204
    assert "Access-Control-Allow-Origin" not in reply.headers


def test_cors_headers_are_added_to_responses_for_allowed_origins(client: Client) -> None:
    allowed = client.get("/echo", headers={"Origin": "https://app.example.com"})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert allowed.headers["Access-Control-Expose-Headers"] == "x-toy"
    other = client.get("/echo", headers={"Origin": "https://evil.example"})
    assert other.status_code == 200
    assert "Access-Control-Allow-Origin" not in other.headers


POLICY_AUTHORIZER = AuthorizerSpec("Policy", "Fn", ("Authorization",), (), False)
ARN = "arn:aws:execute-api:us-east-1:123456789012:localapi/$default/GET/me"


def policy(effect: str, resource: str) -> dict[str, Any]:
    return {
        "principalId": "u1",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": {"sub": "u1"},
    }


@pytest.mark.parametrize(
    ("response", "authorized"),
    [
        (policy("Allow", ARN), True),
        (policy("Allow", "arn:aws:execute-api:us-east-1:123456789012:localapi/*"), True),
        (policy("Allow", "arn:aws:execute-api:us-east-1:123456789012:other/*"), False),
        (policy("Deny", "*"), False),
    ],
)
def test_iam_policy_responses(response: dict[str, Any], authorized: bool) -> None:
    decision = decide(response, POLICY_AUTHORIZER, ARN)
    assert decision.authorized is authorized
    assert decision.context == {"sub": "u1"}
