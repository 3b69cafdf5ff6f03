"""Each handler driven by the events in events/, as `sam local invoke -e` would."""

from __future__ import annotations

import copy
import json
from typing import Any

import jwt
import pytest

from stateless_auth.tokens.keys import thumbprint
from tests.support.events import (
    body,
    cookie_token,
    load_event,
    with_bearer,
    with_json_body,
    with_link_token,
    with_refresh_cookie,
)
from tests.support.handlers import Stack

pytestmark = pytest.mark.xdist_group("handlers")


PASSWORD = "correct horse battery staple"  # events/signup_ok.json's and login_ok.json's


@pytest.fixture(scope="module")
def account(stack: Stack) -> dict[str, Any]:
    """events/signup_ok.json's account, its email verified through the mailed link."""
    reply = stack.invoke("signup", load_event("signup_ok.json"))
    assert reply["statusCode"] == 202, reply
    assert body(reply) == {"email": "ann@example.com"}
    stack.run_mailer()
    token = stack.link_token("ann@example.com", "verify_email")
    verified = stack.invoke("verify_email", with_link_token("verify_email.json", token))
    assert verified["statusCode"] == 200, verified
    return body(verified)


def test_signup_creates_the_account_with_a_normalised_email(account: dict[str, Any]) -> None:
    assert account["email"] == "ann@example.com"
    assert account["user_id"]
    assert account["email_verified"] is True


def test_signup_of_a_taken_email_answers_exactly_as_a_new_one(
    stack: Stack, account: dict[str, Any]
) -> None:
    new = stack.invoke(
        "signup",
        with_json_body("signup_ok.json", {"email": "New@Example.com", "password": PASSWORD}),
    )
    taken = stack.invoke("signup", load_event("signup_ok.json"))
    assert taken["statusCode"] == new["statusCode"] == 202
    assert body(taken) == {"email": "ann@example.com"}
    assert body(new) == {"email": "new@example.com"}
    assert taken["headers"] == new["headers"]
    assert taken.get("cookies") == new.get("cookies")
    stack.run_mailer()
    # the owner is told; the account is unchanged and still logs in
    assert "someone tried to sign up" in stack.mails_to("ann@example.com")[-1].subject
    assert stack.invoke("login", load_event("login_ok.json"))["statusCode"] == 200


@pytest.mark.parametrize(
    ("event", "status", "error"),
    [
        ("signup_weak_password.json", 400, "weak_password"),
        ("signup_invalid_json.json", 400, "invalid_request"),
        ("signup_wrong_types.json", 400, "invalid_request"),
        ("signup_too_large.json", 413, "payload_too_large"),
        ("login_bad_delivery.json", 400, "invalid_request"),
        ("refresh_missing_token.json", 400, "invalid_request"),
    ],
)
def test_bad_input_gets_a_clear_4xx(stack: Stack, event: str, status: int, error: str) -> None:
    name = event.split("_")[0]
    reply = stack.invoke(name, load_event(event))
    assert reply["statusCode"] == status
    assert body(reply)["error"] == error
    assert body(reply)["message"]


def test_base64_body_is_accepted(stack: Stack) -> None:
    reply = stack.invoke("signup", load_event("signup_base64.json"))
    assert reply["statusCode"] == 202
    assert body(reply) == {"email": "b64@example.com"}


def test_login_failures_look_the_same(stack: Stack, account: dict[str, Any]) -> None:
    wrong = stack.invoke("login", load_event("login_bad_password.json"))
    unknown = stack.invoke("login", load_event("login_unknown_email.json"))
    assert wrong["statusCode"] == unknown["statusCode"] == 401
    assert wrong["body"] == unknown["body"]
    assert wrong["headers"] == unknown["headers"]
    assert body(wrong)["error"] == "invalid_credentials"


def test_login_sets_the_refresh_cookie_by_default(stack: Stack, account: dict[str, Any]) -> None:
    reply = stack.invoke("login", load_event("login_ok.json"))
    assert reply["statusCode"] == 200
    tokens = body(reply)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900
    assert "refresh_token" not in tokens
    (cookie,) = reply["cookies"]
    assert cookie.startswith("__Host-refresh_token=")
    for attribute in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=7776000"):
        assert attribute in cookie
    assert reply["headers"]["Cache-Control"] == "no-store"


def test_full_cycle_cookie_refresh_reuse_and_logout(stack: Stack, account: dict[str, Any]) -> None:
    first = cookie_token(stack.invoke("login", load_event("login_ok.json")))
    refreshed = stack.invoke("refresh", with_refresh_cookie("refresh_cookie.json", first))
    assert refreshed["statusCode"] == 200, refreshed
    second = cookie_token(refreshed)
    assert second != first
    assert "refresh_token" not in body(refreshed)
    # replaying the first token revokes the session, the second one included
    replay = stack.invoke("refresh", with_refresh_cookie("refresh_cookie.json", first))
    assert replay["statusCode"] == 401
    assert body(replay)["error"] == "invalid_token"
    newest = stack.invoke("refresh", with_refresh_cookie("refresh_cookie.json", second))
    assert newest["statusCode"] == 401


def test_body_delivery_round_trip(stack: Stack, account: dict[str, Any]) -> None:
    reply = stack.invoke("login", load_event("login_body_delivery.json"))
    tokens = body(reply)
    assert "cookies" not in reply
    assert tokens["refresh_expires_in"] == 7776000
    event = load_event("refresh_body.json")
    event["body"] = json.dumps({"refresh_token": tokens["refresh_token"]})
    again = stack.invoke("refresh", event)
    assert again["statusCode"] == 200
    assert body(again)["refresh_token"] != tokens["refresh_token"]
    assert "cookies" not in again


def test_cross_site_refresh_is_refused_and_changes_nothing(
    stack: Stack, account: dict[str, Any]
) -> None:
    token = cookie_token(stack.invoke("login", load_event("login_ok.json")))
    refused = stack.invoke("refresh", with_refresh_cookie("refresh_cross_site.json", token))
    assert refused["statusCode"] == 403
    assert body(refused)["error"] == "cross_site_request"
    assert (
        stack.invoke("refresh", with_refresh_cookie("refresh_cookie.json", token))["statusCode"]
        == 200
    )


def test_logout_revokes_and_clears_the_cookie(stack: Stack, account: dict[str, Any]) -> None:
    token = cookie_token(stack.invoke("login", load_event("login_ok.json")))
    reply = stack.invoke("logout", with_refresh_cookie("logout_cookie.json", token))
    assert reply["statusCode"] == 204
    assert reply["body"] == ""
    assert reply["cookies"] == [
        "__Host-refresh_token=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0"
    ]
    assert (
        stack.invoke("refresh", with_refresh_cookie("refresh_cookie.json", token))["statusCode"]
        == 401
    )


def test_logout_without_or_with_an_unknown_token_is_204(stack: Stack) -> None:
    assert stack.invoke("logout", load_event("logout_no_token.json"))["statusCode"] == 204
    unknown = with_refresh_cookie("logout_cookie.json", "never-issued")
    assert stack.invoke("logout", unknown)["statusCode"] == 204


def test_jwks_and_discovery(stack: Stack) -> None:
    jwks = stack.invoke("jwks", load_event("jwks.json"))
    assert jwks["statusCode"] == 200
    assert jwks["headers"]["Cache-Control"].startswith("public, max-age=")
    keys = body(jwks)["keys"]
    assert len(keys) == 3
    assert all("d" not in key and key["alg"] == "ES256" for key in keys)
    assert all(key["kid"] == thumbprint(key) for key in keys)
    discovery = body(stack.invoke("jwks", load_event("openid_configuration.json")))
    # The stack's fixed issuer, not the request's domain (api.example.test).
    assert discovery["issuer"] == stack.issuer
    assert discovery["issuer"].endswith(".execute-api.us-east-1.amazonaws.com")
    assert discovery["jwks_uri"] == stack.issuer + "/.well-known/jwks.json"


def test_authorizer_allows_a_fresh_access_token(stack: Stack, account: dict[str, Any]) -> None:
    access = body(stack.invoke("login", load_event("login_ok.json")))["access_token"]
    decision = stack.invoke("authorizer", with_bearer("authorizer_valid.json", access))
    assert decision["isAuthorized"] is True
    assert decision["context"]["sub"] == account["user_id"]
    assert decision["context"]["roles"] == ["user"]


@pytest.mark.parametrize("event", ["authorizer_not_bearer.json", "authorizer_garbage.json"])
def test_authorizer_denies_anything_else(stack: Stack, event: str) -> None:
    assert stack.invoke("authorizer", load_event(event)) == {"isAuthorized": False}


def test_authorizer_denies_a_refresh_token_and_allows_any_domain(
    stack: Stack, account: dict[str, Any]
) -> None:
    reply = stack.invoke("login", load_event("login_body_delivery.json"))
    tokens = body(reply)
    refresh = with_bearer("authorizer_valid.json", tokens["refresh_token"])
    assert stack.invoke("authorizer", refresh)["isAuthorized"] is False
    # Any domain: the issuer is fixed, so the exported authorizer works on other APIs.
    other_host = with_bearer("authorizer_valid.json", tokens["access_token"])
    other_host["requestContext"]["domainName"] = "other.example.test"
    other_host["headers"]["host"] = "other.example.test"
    assert stack.invoke("authorizer", other_host)["isAuthorized"] is True
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["iss"] == stack.issuer
    assert claims["email_verified"] is True


def test_me_returns_the_authorizer_context(stack: Stack) -> None:
    reply = stack.invoke("me", load_event("me.json"))
    assert reply["statusCode"] == 200
    assert body(reply) == {
        "user_id": "2f6c1a8e-6d7e-4a57-9a0c-0c5d7b1e9f10",
        "email": "ann@example.com",
        "email_verified": False,
        "roles": ["user"],
    }


@pytest.mark.parametrize(
    "name", ["signup", "login", "refresh", "logout", "jwks", "me", "verify_email", "password_reset"]
)
@pytest.mark.parametrize(
    "junk", [{}, {"body": 5}, {"headers": None, "body": "{}"}, {"cookies": "x"}]
)
def test_malformed_events_never_crash(stack: Stack, name: str, junk: dict[str, Any]) -> None:
    reply = stack.invoke(name, copy.deepcopy(junk))
    assert 400 <= reply["statusCode"] < 500 or reply["statusCode"] in (200, 204)


def test_missing_signing_keys_answer_503_with_retry_after(
    stack: Stack, account: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from stateless_auth.domain.errors import KeySetError

    def outage() -> Any:
        raise KeySetError("no keys yet")

    monkeypatch.setattr(stack.handlers["login"], "signing_key", outage)
    reply = stack.invoke("login", load_event("login_ok.json"))
    assert reply["statusCode"] == 503
    assert body(reply)["error"] == "temporarily_unavailable"
    assert reply["headers"]["Retry-After"] == "5"


def test_the_dummy_hash_for_unknown_emails_is_made_at_start_up(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 8: built on the first unknown-email login, it made that one answer slower."""
    from stateless_auth.domain import passwords

    made: list[str] = []
    real = passwords.hash_password

    def counting(password: str) -> str:
        made.append(password)
        return real(password)

    # Made when the handler was imported (its cold start), before any request.
    assert stack.handlers["login"].unknown_email_hash.startswith("$argon2id$")
    monkeypatch.setattr(passwords, "hash_password", counting)
    unknown = load_event("login_unknown_email.json")
    unknown["body"] = json.dumps({"email": "first-unknown@example.com", "password": "x" * 20})
    reply = stack.invoke("login", unknown)
    assert reply["statusCode"] == 401
    assert made == []
