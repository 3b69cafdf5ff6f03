"""Issue 8 items 2 and 6 through the real handlers, driven by events/ as `sam local invoke
-e` would: the text/plain login CSRF, the cross-site rule on every state-changing route,
415 for non-JSON bodies, and 401 for a malformed refresh token (docs/routes.md, "Cross-site calls and content type")."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import pytest

from tests.support.events import body, error_of, load_event
from tests.support.handlers import Stack, import_handler

pytestmark = pytest.mark.xdist_group("handlers")
EMAIL = "ann@example.com"
PASSWORD = "correct horse battery staple"
WRONG = "a wrong but long passphrase"
EVIL = {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}


def event(
    name: str, *, headers: Mapping[str, str | None] | None = None, **fields: Any
) -> dict[str, Any]:
    """An events/ file with some headers changed (None removes one) and a new body."""
    result = load_event(name)
    for key, value in (headers or {}).items():
        if value is None:
            result["headers"].pop(key, None)
        else:
            result["headers"][key] = value
    if "body" in fields:
        result["body"] = None if fields["body"] is None else json.dumps(fields["body"])
        if result["body"] is None:
            del result["body"]
    if "cookie" in fields:
        result["cookies"] = [f"__Host-refresh_token={fields['cookie']}"]
    return result


def login_body(password: str = PASSWORD, delivery: str = "cookie") -> dict[str, Any]:
    return {"email": EMAIL, "password": password, "refresh_token_delivery": delivery}


def failures_item(stack: Stack, email: str) -> Any:
    return stack.dynamodb.get_item(
        TableName=stack.tables["UsersTable"], Key={"pk": {"S": f"FAILED#{email}"}}
    ).get("Item")


def user_item(stack: Stack, email: str) -> Any:
    return stack.dynamodb.get_item(
        TableName=stack.tables["UsersTable"], Key={"pk": {"S": f"EMAIL#{email}"}}
    ).get("Item")


def body_tokens(stack: Stack) -> dict[str, Any]:
    reply = stack.invoke("login", event("login_ok.json", body=login_body(delivery="body")))
    assert reply["statusCode"] == 200, reply
    return body(reply)


@pytest.fixture(scope="module")
def account(stack: Stack) -> dict[str, Any]:
    """events/signup_ok.json's account, verified (so that it logs in)."""
    return stack.sign_up_verified("Ann@Example.com", PASSWORD)


def test_the_text_plain_cross_site_login_sets_no_cookie_and_counts_nothing(
    stack: Stack, account: dict[str, Any]
) -> None:
    attack = load_event("login_text_plain.json")
    reply = stack.invoke("login", attack)
    assert error_of(reply) in {(403, "cross_site_request"), (415, "unsupported_media_type")}
    assert "cookies" not in reply
    # with a wrong password, more times than the lock-out allows: none of them counts
    wrong = copy.deepcopy(attack)
    wrong["body"] = wrong["body"].replace(PASSWORD, WRONG)
    for _ in range(stack.handlers["login"].settings.max_failed_logins + 1):
        assert stack.invoke("login", copy.deepcopy(wrong))["statusCode"] in (403, 415)
    assert failures_item(stack, EMAIL) is None
    assert stack.invoke("login", load_event("login_ok.json"))["statusCode"] == 200


def test_a_text_plain_login_without_browser_headers_is_415(
    stack: Stack, account: dict[str, Any]
) -> None:
    plain = event("login_text_plain.json", headers={k: None for k in EVIL})
    plain["headers"].pop("referer")
    reply = stack.invoke("login", plain)
    assert error_of(reply) == (415, "unsupported_media_type")
    assert "cookies" not in reply


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_signup_with_a_non_json_body_is_415_and_creates_no_account(
    stack: Stack, content_type: str | None
) -> None:
    email = f"plain-{content_type or 'none'}@example.com".replace("/", "-")
    refused = event(
        "signup_text_plain.json",
        headers={"content-type": content_type},
        body={"email": email, "password": PASSWORD},
    )
    assert error_of(stack.invoke("signup", refused)) == (415, "unsupported_media_type")
    assert user_item(stack, email) is None
    later = event("signup_ok.json", body={"email": email, "password": PASSWORD})
    assert stack.invoke("signup", later)["statusCode"] == 202
    assert user_item(stack, email) is not None


def test_the_signup_text_plain_event_is_refused(stack: Stack) -> None:
    reply = stack.invoke("signup", load_event("signup_text_plain.json"))
    assert error_of(reply) == (415, "unsupported_media_type")
    assert user_item(stack, "bob@example.com") is None


def test_a_cross_site_json_login_is_403_and_sets_no_cookie(
    stack: Stack, account: dict[str, Any]
) -> None:
    reply = stack.invoke("login", load_event("login_cross_site.json"))
    assert error_of(reply) == (403, "cross_site_request")
    assert "cookies" not in reply
    # an Origin alone (older browsers send no Sec-Fetch-Site) is enough
    origin_only = event("login_ok.json", headers={"origin": "https://evil.example"})
    assert error_of(stack.invoke("login", origin_only)) == (403, "cross_site_request")


def test_a_cross_site_signup_is_403_and_creates_no_account(stack: Stack) -> None:
    email = "cross-site-signup@example.com"
    refused = event("signup_ok.json", headers=EVIL, body={"email": email, "password": PASSWORD})
    assert error_of(stack.invoke("signup", refused)) == (403, "cross_site_request")
    assert user_item(stack, email) is None


def test_a_cross_site_refresh_with_a_body_token_is_403_and_changes_nothing(
    stack: Stack, account: dict[str, Any]
) -> None:
    token = body_tokens(stack)["refresh_token"]
    refused = event("refresh_body.json", headers=EVIL, body={"refresh_token": token})
    assert error_of(stack.invoke("refresh", refused)) == (403, "cross_site_request")
    again = event("refresh_body.json", body={"refresh_token": token})
    assert stack.invoke("refresh", again)["statusCode"] == 200  # not rotated by the refusal


def test_a_cross_site_logout_is_403_and_the_session_lives_on(
    stack: Stack, account: dict[str, Any]
) -> None:
    token = body_tokens(stack)["refresh_token"]
    by_body = event("logout_no_token.json", headers=EVIL, body={"refresh_token": token})
    reply = stack.invoke("logout", by_body)
    assert error_of(reply) == (403, "cross_site_request")
    assert "cookies" not in reply
    by_cookie = event("logout_cookie.json", headers=EVIL, cookie=token)
    assert error_of(stack.invoke("logout", by_cookie)) == (403, "cross_site_request")
    assert (
        stack.invoke("refresh", event("refresh_body.json", body={"refresh_token": token}))[
            "statusCode"
        ]
        == 200
    )


def test_a_same_origin_browser_login_works(stack: Stack, account: dict[str, Any]) -> None:
    same = event(
        "login_ok.json",
        headers={
            "origin": "https://api.example.test",
            "sec-fetch-site": "same-origin",
            "content-type": "application/json; charset=UTF-8",
        },
    )
    reply = stack.invoke("login", same)
    assert reply["statusCode"] == 200, reply
    assert reply["cookies"][0].startswith("__Host-refresh_token=")


def test_a_login_from_an_allowed_origin_works(
    stack: Stack, account: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # ALLOWED_ORIGINS as the function's environment gives it, read when the function starts.
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://app.example.com")
    monkeypatch.setitem(stack.handlers, "login", import_handler("login"))
    allowed = event(
        "login_ok.json",
        headers={"origin": "https://app.example.com", "sec-fetch-site": "same-site"},
    )
    assert stack.invoke("login", allowed)["statusCode"] == 200
    other = event("login_ok.json", headers={"origin": "https://other.example.com"})
    assert error_of(stack.invoke("login", other)) == (403, "cross_site_request")


def test_a_cookie_refresh_with_no_body_and_no_content_type_works(
    stack: Stack, account: dict[str, Any]
) -> None:
    login = stack.invoke("login", load_event("login_ok.json"))
    token = login["cookies"][0].split(";")[0].split("=", 1)[1]
    refresh = event("refresh_cookie.json", headers={"content-type": None}, cookie=token)
    refresh.pop("body", None)
    reply = stack.invoke("refresh", refresh)
    assert reply["statusCode"] == 200, reply
    new_token = reply["cookies"][0].split(";")[0].split("=", 1)[1]
    logout = event("logout_cookie.json", headers={"content-type": None}, cookie=new_token)
    assert stack.invoke("logout", logout)["statusCode"] == 204


def test_gets_are_not_affected_by_the_cross_site_rule(stack: Stack) -> None:
    assert stack.invoke("jwks", event("jwks.json", headers=EVIL))["statusCode"] == 200
    discovery = event("openid_configuration.json", headers=EVIL)
    assert stack.invoke("jwks", discovery)["statusCode"] == 200
    assert stack.invoke("me", event("me.json", headers=EVIL))["statusCode"] == 200


MALFORMED = ["x" * 513, "x" * 4000, "tök", "a\x00b", "a b\tc"]


@pytest.mark.parametrize("token", MALFORMED)
def test_a_malformed_refresh_token_is_401_invalid_token(stack: Stack, token: str) -> None:
    by_cookie = event("refresh_cookie.json", cookie=token)
    assert error_of(stack.invoke("refresh", by_cookie)) == (401, "invalid_token")
    by_body = event("refresh_body.json", body={"refresh_token": token})
    assert error_of(stack.invoke("refresh", by_body)) == (401, "invalid_token")


@pytest.mark.parametrize("token", [123, True, [], {"a": "b"}])
def test_a_refresh_token_that_is_not_a_string_is_401(stack: Stack, token: Any) -> None:
    by_body = event("refresh_body.json", body={"refresh_token": token})
    assert error_of(stack.invoke("refresh", by_body)) == (401, "invalid_token")


@pytest.mark.parametrize("sent", [None, {}, {"refresh_token": ""}, {"refresh_token": None}])
def test_no_refresh_token_presented_is_400(stack: Stack, sent: Any) -> None:
    reply = stack.invoke("refresh", event("refresh_missing_token.json", body=sent))
    assert error_of(reply) == (400, "invalid_request")


@pytest.mark.parametrize("token", [*MALFORMED, 123])
def test_logout_with_a_malformed_token_is_still_204(stack: Stack, token: Any) -> None:
    sent = [event("logout_no_token.json", body={"refresh_token": token})]
    if isinstance(token, str):
        sent.append(event("logout_cookie.json", cookie=token))
    for request in sent:
        reply = stack.invoke("logout", request)
        assert reply["statusCode"] == 204, reply
        assert reply["cookies"] == [
            "__Host-refresh_token=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0"
        ]


def test_logout_with_a_body_that_is_not_a_json_object_is_still_204(stack: Stack) -> None:
    request = load_event("logout_no_token.json")
    request["body"] = "[1, 2"
    assert stack.invoke("logout", request)["statusCode"] == 204
