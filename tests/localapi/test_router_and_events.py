"""Route matching and the payload 2.0 mapping, without a server."""

from __future__ import annotations

import base64

import pytest

from localapi.events import (
    IncomingRequest,
    InvalidResponse,
    http_event,
    response_from_result,
)
from localapi.gateway import Router
from localapi.model import RouteSpec


def route(method: str, path: str) -> RouteSpec:
    return RouteSpec(method, path, f"{method} {path}", None)


ROUTER = Router(
    [
        route("GET", "/items/{id}"),
        route("GET", "/items/special"),
        route("DELETE", "/auth/sessions/{session_id}"),
        route("GET", "/auth/sessions"),
        route("POST", "/a/{x}/c"),
        route("POST", "/a/b/{y}"),
    ]
)


@pytest.mark.parametrize(
    ("method", "path", "expected", "parameters"),
    [
        ("GET", "/items/special", "GET /items/special", {}),
        ("GET", "/items/42", "GET /items/{id}", {"id": "42"}),
        ("GET", "/auth/sessions", "GET /auth/sessions", {}),
        (
            "DELETE",
            "/auth/sessions/s-1",
            "DELETE /auth/sessions/{session_id}",
            {"session_id": "s-1"},
        ),
        ("POST", "/a/b/c", "POST /a/b/{y}", {"y": "c"}),
    ],
)
def test_most_specific_route_wins(
    method: str, path: str, expected: str, parameters: dict[str, str]
) -> None:
    matched = ROUTER.match(method, path)
    assert matched is not None
    assert matched[0].route_key == expected
    assert matched[1] == parameters


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/items/42"),
        ("DELETE", "/items/special"),
        ("GET", "/items"),
        ("GET", "/items/"),
        ("GET", "/items/42/more"),
        ("DELETE", "/auth/sessions/"),
        ("GET", "/"),
    ],
)
def test_no_route(method: str, path: str) -> None:
    assert ROUTER.match(method, path) is None


def incoming(body: bytes, content_type: str | None) -> IncomingRequest:
    headers = {"host": "127.0.0.1:3000"}
    if content_type:
        headers["content-type"] = content_type
    return IncomingRequest(
        method="POST",
        raw_path="/x",
        path="/x",
        raw_query="a=1&a=2&b=%20c",
        headers=headers,
        cookies=[],
        body=body,
        source_ip="127.0.0.1",
        protocol="HTTP/1.1",
        host="127.0.0.1:3000",
    )


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("text/plain", True),
        ("application/x-www-form-urlencoded", False),
        ("application/octet-stream", False),
        (None, False),
    ],
)
def test_body_is_text_only_for_text_media_types(content_type: str | None, text: bool) -> None:
    event = http_event(incoming(b'{"a": 1}', content_type), "POST /x", {})
    assert event["isBase64Encoded"] is (not text)
    decoded = event["body"] if text else base64.b64decode(event["body"]).decode()
    assert decoded == '{"a": 1}'
    assert event["queryStringParameters"] == {"a": "1,2", "b": " c"}


def test_event_without_body_cookies_or_parameters_omits_them() -> None:
    event = http_event(incoming(b"", None), "POST /x", {})
    for key in ("body", "cookies", "pathParameters"):
        assert key not in event
    assert event["isBase64Encoded"] is False
    assert "authorizer" not in event["requestContext"]


def test_response_with_status_code() -> None:
    response = response_from_result(
        {
            "statusCode": 201,
            "headers": {"x-a": "1", "x-n": 2},
            "cookies": ["c=1", "d=2"],
            "body": "hi",
        }
    )
    assert response.status == 201
    assert ("x-n", "2") in response.headers
    assert [v for k, v in response.headers if k == "Set-Cookie"] == ["c=1", "d=2"]
    assert ("Content-Type", "application/json") in response.headers
    assert response.body == b"hi"


def test_base64_response_body_is_decoded() -> None:
    encoded = base64.b64encode(b"\x00\xff").decode()
    response = response_from_result({"statusCode": 200, "body": encoded, "isBase64Encoded": True})
    assert response.body == b"\x00\xff"


@pytest.mark.parametrize(
    "result",
    [
        None,
        "plain",
        {"hello": "world"},  # API Gateway would answer 200; no handler here returns one
        {"statusCode": "abc"},
        {"statusCode": 200, "cookies": "c=1"},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "headers": {"x": {"nested": 1}}},
        {"statusCode": 200, "headers": {"x": "a\r\nb"}},
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
        {"statusCode": 700},
        object(),
    ],
)
def test_unusable_results(result: object) -> None:
    with pytest.raises(InvalidResponse):
        response_from_result(result)
