"""The gateway as a WSGI application (no sockets): CORS as API Gateway answers it."""

from __future__ import annotations

import io

import pytest
from werkzeug.test import Client

from localapi.gateway import Gateway
from localapi.model import CorsSpec, FunctionSpec, RouteSpec
from localapi.runtime import LoadedFunction
from tests.support.paths import LOCALAPI_FIXTURES as FIXTURES

CORS = CorsSpec(
    allow_origins=("https://app.example.com",),
    allow_methods=("GET", "POST"),
    allow_headers=("content-type", "authorization"),
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
        timeout_seconds=3,
        memory_mb=128,
    )
    function = LoadedFunction(spec)
    function.load({"GREETING": "hi"})
    return function


@pytest.fixture
def client(echo: LoadedFunction) -> Client:
    routes = [RouteSpec("GET", "/echo", "WsgiEchoFunction", None)]
    gateway = Gateway(routes, {"WsgiEchoFunction": echo}, cors=CORS, log=io.StringIO())
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
    assert reply.headers["Access-Control-Allow-Headers"] == "content-type,authorization"
    assert reply.headers["Access-Control-Allow-Credentials"] == "true"
    assert reply.headers["Access-Control-Max-Age"] == "600"


@pytest.mark.parametrize(
    ("origin", "method", "headers"),
    [
        ("https://evil.example", "GET", ""),
        ("https://app.example.com", "DELETE", ""),
        ("https://app.example.com", "GET", "x-other"),
    ],
)
def test_preflight_outside_the_configuration_gets_no_cors_headers(
    client: Client, origin: str, method: str, headers: str
) -> None:
    request = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        request["Access-Control-Request-Headers"] = headers
    reply = client.options("/echo", headers=request)
    assert reply.status_code == 204
    assert "Access-Control-Allow-Origin" not in reply.headers


def test_cors_headers_are_added_to_responses_for_allowed_origins(client: Client) -> None:
    allowed = client.get("/echo", headers={"Origin": "https://app.example.com"})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    other = client.get("/echo", headers={"Origin": "https://evil.example"})
    assert other.status_code == 200
    assert "Access-Control-Allow-Origin" not in other.headers
