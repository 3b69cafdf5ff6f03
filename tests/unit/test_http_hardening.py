"""Issue 8 item 2 (login CSRF) and item 6 (malformed refresh tokens): the request checks
the HTTP handler decorator runs before every handler (docs/routes.md, "Cross-site calls
and content type").

- a body must be `Content-Type: application/json`, else 415 and the handler never runs;
- every state-changing call (POST, DELETE, ...) from another site answers 403, cookie or
  not; GETs and calls with neither `Origin` nor `Sec-Fetch-Site` are not affected;
- a presented refresh token that is malformed or too long is `invalid_token` (401).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from stateless_auth.config import load_settings
from stateless_auth.domain.errors import InvalidToken
from stateless_auth.http.cross_site import check_content_type
from stateless_auth.http.errors import CrossSiteRequest, UnsupportedMediaType, answer_for
from stateless_auth.http.handler import endpoint, http_handler
from stateless_auth.http.requests import MAX_BODY_BYTES, json_body, parse_event
from stateless_auth.http.responses import response
from stateless_auth.http.token_delivery import presented_refresh_token
from tests.support.events import error_of
from tests.support.handlers import LambdaContext

OWN = "https://api.example.test"
APP = "https://app.example.test"
ALLOWED = frozenset({APP})
logger = Logger(service="test-http-hardening")


def make_event(
    method: str = "POST",
    body: str | None = None,
    *,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
    cookie: str | None = None,
    b64: bool = False,
) -> dict[str, Any]:
    all_headers = {"host": "api.example.test", "x-forwarded-proto": "https"}
    if content_type is not None:
        all_headers["content-type"] = content_type
    all_headers.update(headers or {})
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} /toy",
        "rawPath": "/toy",
        "headers": all_headers,
        "requestContext": {
            "domainName": "api.example.test",
            "http": {"method": method, "path": "/toy"},
            "requestId": "req-toy",
        },
        "isBase64Encoded": b64,
    }
    if body is not None:
        event["body"] = body
    if cookie is not None:
        event["cookies"] = [f"__Host-refresh_token={cookie}"]
    return event


class Toy:
    """A handler that records each call: the proof that a refused call changes nothing."""

    def __init__(self, *, parse: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.parse = parse

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        body = json_body(event, required=False) if self.parse else {}
        self.calls.append(body)
        return response(200, {"ok": True})


def wrap(toy: Toy, allowed: Any = ALLOWED) -> Any:
    return endpoint(logger, allowed_origins=allowed)(toy)


# --- the body's media type -------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "Application/JSON",
        " application/json ",
    ],
)
@pytest.mark.parametrize("method", ["POST", "DELETE", "GET"])
def test_json_bodies_pass(method: str, content_type: str) -> None:
    toy = Toy(parse=True)
    reply = wrap(toy)(make_event(method, '{"a": 1}', content_type=content_type), None)
    assert reply["statusCode"] == 200
    assert toy.calls == [{"a": 1}]


def test_the_content_type_header_name_is_case_insensitive() -> None:
    toy = Toy(parse=True)
    event = make_event("POST", '{"a": 1}', headers={"Content-Type": "application/json"})
    assert wrap(toy)(event, None)["statusCode"] == 200


@pytest.mark.parametrize(
    "content_type",
    [
        None,  # a body without any Content-Type
        "",
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=----x",
        "application/jsonp",
        "application/json-patch+json",
        "text/json",
        "application/json, text/plain",
    ],
)
@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_other_bodies_are_415_and_the_handler_never_runs(
    method: str, content_type: str | None
) -> None:
    toy = Toy(parse=True)
    body = '{"email":"ann@example.com","password":"correct horse battery staple","x":"=y"}'
    reply = wrap(toy)(make_event(method, body, content_type=content_type), None)
    assert error_of(reply) == (415, "unsupported_media_type")
    assert reply["headers"]["Content-Type"] == "application/json"
    assert "cookies" not in reply
    assert toy.calls == []


def test_a_base64_body_needs_json_too() -> None:
    toy = Toy(parse=True)
    encoded = base64.b64encode(b'{"a": 1}').decode()
    refused = wrap(toy)(make_event("POST", encoded, content_type="text/plain", b64=True), None)
    assert error_of(refused) == (415, "unsupported_media_type")
    accepted = make_event("POST", encoded, content_type="application/json", b64=True)
    assert wrap(toy)(accepted, None)["statusCode"] == 200
    assert toy.calls == [{"a": 1}]


@pytest.mark.parametrize("body", [None, ""])
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/json"])
def test_no_body_needs_no_content_type(body: str | None, content_type: str | None) -> None:
    toy = Toy(parse=True)
    event = make_event("POST", body, content_type=content_type, cookie="a-token")
    assert wrap(toy)(event, None)["statusCode"] == 200
    assert toy.calls == [{}]


def test_check_content_type_raises_the_415_error() -> None:
    with pytest.raises(UnsupportedMediaType) as raised:
        check_content_type(parse_event(make_event("POST", "{}", content_type="text/plain")))
    assert (answer_for(raised.value).status, answer_for(raised.value).code) == (
        415,
        "unsupported_media_type",
    )


def test_an_oversized_json_body_is_413_and_changes_nothing() -> None:
    toy = Toy(parse=True)
    big = json.dumps({"email": "x" * MAX_BODY_BYTES})
    reply = wrap(toy)(make_event("POST", big, content_type="application/json"), None)
    assert error_of(reply) == (413, "payload_too_large")
    assert toy.calls == []


# --- the cross-site rule ---------------------------------------------------------

CROSS_SITE = [
    {"sec-fetch-site": "cross-site"},
    {"sec-fetch-site": "Cross-Site"},
    {"sec-fetch-site": "cross-site", "origin": OWN},  # a page of another site cannot say OWN
    {"sec-fetch-site": "cross-site", "origin": "https://evil.example"},
    {"origin": "https://evil.example"},
    {"origin": "null"},
    {"origin": ""},
    {"origin": "http://api.example.test"},  # the scheme differs from x-forwarded-proto
    {"origin": "https://api.example.test.evil.example"},
    {"origin": "https://evil.example", "sec-fetch-site": "same-site"},
]
SAME_SITE = [
    {},  # servers and CLIs send neither header
    {"sec-fetch-site": "same-origin"},
    {"sec-fetch-site": "same-origin", "origin": OWN},
    {"sec-fetch-site": "same-site"},
    {"sec-fetch-site": "none"},
    {"origin": OWN},
    {"origin": OWN + "/"},
    {"origin": "HTTPS://API.example.test"},
    {"origin": APP},
    {"origin": APP, "sec-fetch-site": "same-site"},
    # A listed app on another site (app.example.com calling execute-api): what listing an
    # origin in ALLOWED_ORIGINS is for (issue 12, item 6).
    {"origin": APP, "sec-fetch-site": "cross-site"},
]


@pytest.mark.parametrize("headers", CROSS_SITE)
@pytest.mark.parametrize("cookie", [None, "a-token"])
@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT", "PATCH"])
def test_cross_site_state_changing_calls_are_403_cookie_or_not(
    method: str, cookie: str | None, headers: dict[str, str]
) -> None:
    toy = Toy(parse=True)
    event = make_event(
        method, "{}", content_type="application/json", headers=headers, cookie=cookie
    )
    reply = wrap(toy)(event, None)
    assert error_of(reply) == (403, "cross_site_request")
    assert "cookies" not in reply
    assert toy.calls == []


@pytest.mark.parametrize("headers", SAME_SITE)
@pytest.mark.parametrize("cookie", [None, "a-token"])
@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_same_site_allowed_and_headerless_calls_pass(
    method: str, cookie: str | None, headers: dict[str, str]
) -> None:
    toy = Toy(parse=True)
    event = make_event(
        method, "{}", content_type="application/json", headers=headers, cookie=cookie
    )
    assert wrap(toy)(event, None)["statusCode"] == 200
    assert len(toy.calls) == 1


@pytest.mark.parametrize("headers", CROSS_SITE)
@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_methods_are_not_affected(method: str, headers: dict[str, str]) -> None:
    toy = Toy()
    assert wrap(toy)(make_event(method, headers=headers), None)["statusCode"] == 200
    assert len(toy.calls) == 1


def test_a_cross_site_text_plain_form_post_is_refused() -> None:
    toy = Toy(parse=True)
    body = '{"email":"ann@example.com","password":"correct horse battery staple","x":"=y"}'
    attack = make_event(
        "POST",
        body,
        content_type="text/plain",
        headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
    )
    reply = wrap(toy)(attack, None)
    assert error_of(reply) in {(403, "cross_site_request"), (415, "unsupported_media_type")}
    assert "cookies" not in reply
    assert toy.calls == []


@pytest.mark.parametrize(
    "shape",
    [
        {"requestContext": {"domainName": "api.example.test"}},  # no http.method
        {"requestContext": {"domainName": "api.example.test", "http": "POST"}},
        {"requestContext": {"domainName": "api.example.test"}, "routeKey": "$default"},
    ],
)
def test_an_event_that_does_not_say_its_method_gets_the_rule(shape: dict[str, Any]) -> None:
    toy = Toy()
    event = make_event("POST", headers={"sec-fetch-site": "cross-site"})
    event.pop("routeKey")
    event.update(shape)
    assert error_of(wrap(toy)(event, None)) == (403, "cross_site_request")
    assert toy.calls == []


def test_the_route_key_says_the_method_when_the_http_context_does_not() -> None:
    toy = Toy()
    event = make_event("GET", headers={"sec-fetch-site": "cross-site"})
    del event["requestContext"]["http"]
    assert wrap(toy)(event, None)["statusCode"] == 200


def test_allowed_origins_are_read_only_when_a_foreign_origin_needs_them() -> None:
    reads: list[int] = []

    def origins() -> frozenset[str]:
        reads.append(1)
        return ALLOWED

    handler = wrap(Toy(), origins)
    for headers in ({}, {"origin": OWN}, {"sec-fetch-site": "cross-site"}):
        handler(make_event("POST", headers=headers), None)
    assert reads == []
    assert handler(make_event("POST", headers={"origin": APP}), None)["statusCode"] == 200
    assert reads == [1]


def test_the_settings_allowed_origins_count() -> None:
    settings = load_settings(
        {"JWT_AUDIENCE": "aud", "ALLOWED_ORIGINS": "https://configured.example"}
    )
    handler = endpoint(logger, allowed_origins=settings.allowed_origins)(Toy())
    configured = make_event("POST", headers={"origin": "https://configured.example"})
    assert handler(configured, None)["statusCode"] == 200
    other = make_event("POST", headers={"origin": APP})
    assert error_of(handler(other, None)) == (403, "cross_site_request")
    assert settings.allowed_origins == frozenset({"https://configured.example"})


def test_a_get_never_reads_the_allowed_origins() -> None:
    def boom() -> Any:
        raise AssertionError("a GET must not need the allowed origins")

    handler = endpoint(logger, allowed_origins=boom)(Toy())
    assert (
        handler(make_event("GET", headers={"origin": "https://evil.example"}), None)["statusCode"]
        == 200
    )


def test_http_handler_runs_the_same_checks() -> None:
    toy = Toy(parse=True)
    handler = http_handler(logger, allowed_origins=ALLOWED)(toy)
    context = LambdaContext()
    cross = make_event("DELETE", "{}", content_type="application/json", headers={"origin": "x://y"})
    assert error_of(handler(cross, context)) == (403, "cross_site_request")
    plain = make_event("DELETE", "{}", content_type="text/plain")
    assert error_of(handler(plain, context)) == (415, "unsupported_media_type")
    ok = make_event("DELETE", "{}", content_type="application/json", headers={"origin": APP})
    assert handler(ok, context)["statusCode"] == 200
    assert toy.calls == [{}]


# --- presented refresh tokens ----------------------------------------------------


def presented(body: Any = None, cookie: str | None = None) -> tuple[str | None, str]:
    raw = None if body is None else json.dumps(body)
    event = make_event("POST", raw, content_type="application/json", cookie=cookie)
    return presented_refresh_token(parse_event(event), frozenset())


@pytest.mark.parametrize(
    "token", ["x" * 513, "x" * 5000, "tök", "a\x00b", "a\tb", "a\nb", "\x7f", "a\u2028b"]
)
def test_a_malformed_or_too_long_cookie_token_is_invalid_token(token: str) -> None:
    with pytest.raises(InvalidToken) as raised:
        presented(cookie=token)
    assert (answer_for(raised.value).status, answer_for(raised.value).code) == (
        401,
        "invalid_token",
    )


@pytest.mark.parametrize(
    "token", ["x" * 513, "x" * 5000, "tök", "a\x00b", "\ud800", 123, 1.5, True, [], {"a": 1}]
)
def test_a_malformed_or_too_long_body_token_is_invalid_token(token: Any) -> None:
    with pytest.raises(InvalidToken) as raised:
        presented({"refresh_token": token})
    assert (answer_for(raised.value).status, answer_for(raised.value).code) == (
        401,
        "invalid_token",
    )


@pytest.mark.parametrize("body", [None, {}, {"refresh_token": None}, {"refresh_token": ""}])
def test_none_presented_is_none(body: Any) -> None:
    assert presented(body) == (None, "body")
    assert presented(body, cookie="") == (None, "body")


def test_a_well_formed_token_of_the_maximum_length_is_returned() -> None:
    token = "A" * 512
    assert presented({"refresh_token": token}) == (token, "body")
    assert presented(cookie=token) == (token, "cookie")


def test_the_refresh_cookie_in_a_cross_site_call_is_refused_even_from_a_listed_origin() -> None:
    """A listed app may call from its own site (the decorator lets it), but a browser
    never sends the SameSite=Strict cookie there: a cross-site call carrying it is not a
    browser's, so the cookie's own check refuses it (found by the issue-12 review)."""
    event = parse_event(
        make_event(
            "POST",
            "{}",
            content_type="application/json",
            headers={"origin": APP, "sec-fetch-site": "cross-site"},
            cookie="a-token",
        )
    )
    with pytest.raises(CrossSiteRequest):
        presented_refresh_token(event, ALLOWED)
    same_site = parse_event(
        make_event(
            "POST",
            "{}",
            content_type="application/json",
            headers={"origin": APP, "sec-fetch-site": "same-site"},
            cookie="a-token",
        )
    )
    assert presented_refresh_token(same_site, ALLOWED)[1] == "cookie"
