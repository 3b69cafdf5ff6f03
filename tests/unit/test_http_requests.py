"""Body parsing, cookies, the cross-site check and the response shape."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from stateless_auth.domain.errors import InvalidRequest
from stateless_auth.http.cross_site import check_same_site
from stateless_auth.http.errors import CrossSiteRequest, PayloadTooLarge, error_response
from stateless_auth.http.requests import (
    MAX_BODY_BYTES,
    cookie,
    json_body,
    parse_event,
    string_field,
)
from stateless_auth.http.token_delivery import presented_refresh_token, refresh_cookie


def event(body: str | None = None, *, b64: bool = False, **extra: Any) -> Any:
    raw: dict[str, Any] = {
        "version": "2.0",
        "headers": {"host": "api.example.test", "x-forwarded-proto": "https"},
        "requestContext": {"domainName": "api.example.test", "http": {"method": "POST"}},
        "body": body,
        "isBase64Encoded": b64,
    }
    raw.update(extra)
    return parse_event(raw)


def test_json_object_body_is_parsed() -> None:
    assert json_body(event('{"email": "a@b.c"}')) == {"email": "a@b.c"}
    encoded = base64.b64encode(b'{"x": 1}').decode()
    assert json_body(event(encoded, b64=True)) == {"x": 1}


@pytest.mark.parametrize(
    "body",
    [None, "", "[]", '"s"', "1", "{", "NaN", '{"a": NaN}', "null", "{'a': 1}"],
)
def test_non_object_or_invalid_json_is_invalid_request(body: str | None) -> None:
    with pytest.raises(InvalidRequest):
        json_body(event(body))


def test_non_utf8_and_bad_base64_are_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        json_body(event(base64.b64encode(b'{"a": "\xff"}').decode(), b64=True))
    with pytest.raises(InvalidRequest):
        json_body(event("!!!not base64", b64=True))


def test_deeply_nested_json_is_invalid_request_not_a_crash() -> None:
    with pytest.raises((InvalidRequest, PayloadTooLarge)):
        json_body(event("[" * 5000 + "]" * 5000))
    with pytest.raises(InvalidRequest):
        json_body(event('{"a":' + "[" * 3000 + "]" * 3000 + "}"))


def test_body_over_16_kib_is_413() -> None:
    big = json.dumps({"email": "x" * MAX_BODY_BYTES})
    with pytest.raises(PayloadTooLarge):
        json_body(event(big))
    with pytest.raises(PayloadTooLarge):
        json_body(event(base64.b64encode(big.encode()).decode(), b64=True))
    ok = json.dumps({"e": "x" * (MAX_BODY_BYTES - 20)})
    assert json_body(event(ok))


@pytest.mark.parametrize("value", [None, 1, True, [], {}, "", "a\x00b", "\ud800", "x" * 2000])
def test_string_fields_reject_wrong_types_and_junk(value: Any) -> None:
    with pytest.raises(InvalidRequest):
        string_field({"email": value}, "email")


def test_cookie_from_the_cookies_list() -> None:
    e = event(None, cookies=["a=1", "__Host-refresh_token=tok", "b=2"])
    assert cookie(e, "__Host-refresh_token") == "tok"
    assert cookie(event(None), "__Host-refresh_token") is None


def test_refresh_cookie_attributes() -> None:
    value = refresh_cookie("tok", 60)
    assert (
        value == "__Host-refresh_token=tok; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=60"
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"sec-fetch-site": "cross-site"},
        {"origin": "https://evil.example"},
        {"origin": "http://api.example.test"},  # scheme differs from x-forwarded-proto
    ],
)
def test_cross_site_cookie_calls_are_refused(headers: dict[str, str]) -> None:
    e = event(None, headers={"host": "api.example.test", "x-forwarded-proto": "https", **headers})
    with pytest.raises(CrossSiteRequest):
        check_same_site(e, frozenset())


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"sec-fetch-site": "same-origin", "origin": "https://api.example.test"},
        {"origin": "https://app.example.test"},
        {"sec-fetch-site": "same-site"},
    ],
)
def test_same_site_and_allowed_origins_pass(headers: dict[str, str]) -> None:
    e = event(None, headers={"host": "api.example.test", "x-forwarded-proto": "https", **headers})
    check_same_site(e, frozenset({"https://app.example.test"}))


def test_cookie_wins_over_body_and_cross_site_applies_only_to_cookies() -> None:
    both = event(
        '{"refresh_token": "from-body"}',
        cookies=["__Host-refresh_token=from-cookie"],
    )
    assert presented_refresh_token(both, frozenset()) == ("from-cookie", "cookie")
    body_only = event(
        '{"refresh_token": "from-body"}',
        headers={"origin": "https://evil.example", "host": "api.example.test"},
    )
    assert presented_refresh_token(body_only, frozenset()) == ("from-body", "body")
    assert presented_refresh_token(event(None), frozenset()) == (None, "body")


def test_error_shape() -> None:
    reply = error_response(InvalidRequest("bad"))
    assert reply["statusCode"] == 400
    assert json.loads(reply["body"]) == {"error": "invalid_request", "message": "bad"}
    assert reply["headers"]["Content-Type"] == "application/json"


def test_nesting_beyond_the_limit_is_refused_on_every_python() -> None:
    # 3.11's json refuses ~3000 levels, 3.13's does not: the limit is ours, not the parser's.
    with pytest.raises(InvalidRequest, match="nested deeper"):
        json_body(event('{"a":' + "[" * 40 + "]" * 40 + "}"))
    assert json_body(event('{"a":' + "[" * 20 + "]" * 20 + "}"))
