"""The whole flow over real HTTP against `python -m localapi` (docs/routes.md, docs/tokens.md,
docs/local-api.md)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from localapi.testing import running_local_api
from tests.support.http_client import Client, Reply
from tests.support.local_mail import sign_up_and_verify

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def api() -> Iterator[Client]:
    with running_local_api() as base_url:
        yield Client(base_url)


@pytest.fixture(scope="module")
def ann(api: Client) -> dict[str, Any]:
    """Signed up (202) and verified through the local mailbox: login needs a verified email
    under EMAIL_VERIFICATION=required, the default."""
    return sign_up_and_verify(api, "Ann@Example.com", PASSWORD)


def login(api: Client, delivery: str | None = None) -> Reply:
    payload = {"email": "ann@example.com", "password": PASSWORD}
    if delivery:
        payload["refresh_token_delivery"] = delivery
    reply = api.call("POST", "/auth/login", payload)
    assert reply.status == 200, reply.raw
    return reply


def test_signup_login_me_refresh_logout(api: Client, ann: dict[str, Any]) -> None:
    assert ann["email"] == "ann@example.com"
    logged_in = login(api)
    access = logged_in.json()["access_token"]
    assert logged_in.json()["token_type"] == "Bearer"
    cookie = logged_in.refresh_cookie()
    (set_cookie,) = logged_in.cookies()
    assert "HttpOnly" in set_cookie
    assert "Secure" in set_cookie
    assert "SameSite=Strict" in set_cookie

    me = api.call("GET", "/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status == 200
    assert me.json() == {
        "user_id": ann["user_id"],
        "email": "ann@example.com",
        "email_verified": True,
        "roles": ["user"],
    }

    refreshed = api.call(
        "POST", "/auth/refresh", headers={"Cookie": f"__Host-refresh_token={cookie}"}
    )
    assert refreshed.status == 200, refreshed.raw
    new_cookie = refreshed.refresh_cookie()
    assert new_cookie != cookie
    new_access = refreshed.json()["access_token"]
    assert api.call("GET", "/me", headers={"Authorization": f"Bearer {new_access}"}).status == 200

    out = api.call("POST", "/auth/logout", headers={"Cookie": f"__Host-refresh_token={new_cookie}"})
    assert out.status == 204
    assert any("Max-Age=0" in c for c in out.cookies())
    again = api.call(
        "POST", "/auth/refresh", headers={"Cookie": f"__Host-refresh_token={new_cookie}"}
    )
    assert again.status == 401
    assert again.json()["error"] == "invalid_token"
    # the access token stays valid until it expires (documented)
    assert api.call("GET", "/me", headers={"Authorization": f"Bearer {new_access}"}).status == 200


def test_gateway_answers_like_api_gateway(api: Client, ann: dict[str, Any]) -> None:
    assert api.call("GET", "/me").status == 401
    assert api.call("GET", "/me").json() == {"message": "Unauthorized"}
    forbidden = api.call("GET", "/me", headers={"Authorization": "Bearer nope"})
    assert forbidden.status == 403
    assert forbidden.json() == {"message": "Forbidden"}
    missing = api.call("GET", "/nowhere")
    assert missing.status == 404
    assert missing.json() == {"message": "Not Found"}
    assert api.call("GET", "/auth/login").status == 404


def test_refresh_token_as_bearer_is_forbidden(api: Client, ann: dict[str, Any]) -> None:
    refresh = login(api, "body").json()["refresh_token"]
    assert api.call("GET", "/me", headers={"Authorization": f"Bearer {refresh}"}).status == 403


def test_body_delivery_and_reuse_detection(api: Client, ann: dict[str, Any]) -> None:
    tokens = login(api, "body").json()
    assert "refresh_token" in tokens
    assert tokens["refresh_expires_in"] > 0
    first = tokens["refresh_token"]
    second = api.call("POST", "/auth/refresh", {"refresh_token": first})
    assert second.status == 200
    assert second.cookies() == []
    replay = api.call("POST", "/auth/refresh", {"refresh_token": first})
    assert replay.status == 401
    newest = api.call("POST", "/auth/refresh", {"refresh_token": second.json()["refresh_token"]})
    assert newest.status == 401


def test_concurrent_refreshes_have_at_most_one_winner(api: Client, ann: dict[str, Any]) -> None:
    token = login(api, "body").json()["refresh_token"]
    start = threading.Barrier(8)
    statuses: list[int] = []

    def refresh() -> None:
        start.wait(timeout=10)
        statuses.append(api.call("POST", "/auth/refresh", {"refresh_token": token}).status)

    threads = [threading.Thread(target=refresh) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(200) <= 1
    assert set(statuses) <= {200, 401}


def test_cross_site_cookie_refresh_is_refused(api: Client, ann: dict[str, Any]) -> None:
    cookie = login(api).refresh_cookie()
    refused = api.call(
        "POST",
        "/auth/refresh",
        headers={"Cookie": f"__Host-refresh_token={cookie}", "Origin": "https://evil.example"},
    )
    assert refused.status == 403
    assert refused.json()["error"] == "cross_site_request"
    same_origin = api.call(
        "POST",
        "/auth/refresh",
        headers={"Cookie": f"__Host-refresh_token={cookie}", "Origin": api.origin},
    )
    assert same_origin.status == 200


def test_jwks_and_discovery_over_http(api: Client) -> None:
    jwks = api.call("GET", "/.well-known/jwks.json")
    assert jwks.status == 200
    assert "max-age=" in (jwks.headers.get("Cache-Control") or "")
    assert len(jwks.json()["keys"]) == 3
    discovery = api.call("GET", "/.well-known/openid-configuration").json()
    assert discovery["issuer"] == api.origin
    assert discovery["jwks_uri"] == api.origin + "/.well-known/jwks.json"


def test_a_token_verifies_with_a_standard_library(api: Client, ann: dict[str, Any]) -> None:
    import jwt

    access = login(api).json()["access_token"]
    keys = jwt.PyJWKSet.from_dict(api.call("GET", "/.well-known/jwks.json").json())
    kid = jwt.get_unverified_header(access)["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    claims = jwt.decode(access, key, algorithms=["ES256"], options={"verify_aud": False})
    assert claims["iss"] == api.origin
    assert claims["sub"] == ann["user_id"]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b'{"email": 1, "password": 2}',
        b'{"email": "a@b.co", "password": "\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000"}',
        b"\xff\xfe\x00",
        b'{"email": {"$ne": null}, "password": "x"}',
        b"[" * 20000 + b"]" * 20000,
        b'{"email": "' + b"a" * 17000 + b'@x.io", "password": "p"}',
    ],
)
@pytest.mark.parametrize(
    "path",
    [
        "/auth/signup",
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/auth/verify-email",
        "/auth/verify-email/resend",
        "/auth/password/forgot",
        "/auth/password/reset",
    ],
)
def test_malformed_input_never_gets_a_5xx(api: Client, path: str, raw: bytes) -> None:
    reply = api.call("POST", path, raw=raw)
    assert reply.status < 500, (path, raw[:40], reply.status, reply.raw)
    if reply.status >= 400:
        assert set(reply.json()) == {"error", "message"}


def test_environment_passes_through_to_the_handlers() -> None:
    with running_local_api(env={"ACCESS_TOKEN_TTL_SECONDS": "5"}) as base_url:
        client = Client(base_url)
        sign_up_and_verify(client, "bob@example.com", PASSWORD)
        reply = client.call(
            "POST", "/auth/login", {"email": "bob@example.com", "password": PASSWORD}
        )
        assert reply.json()["expires_in"] == 5


def test_lockout_over_http_and_enumeration_safe_failures() -> None:
    env = {"MAX_FAILED_LOGINS": "2", "LOCKOUT_SECONDS": "2"}
    with running_local_api(env=env) as base_url:
        client = Client(base_url)
        sign_up_and_verify(client, "cat@example.com", PASSWORD)
        wrong = client.call(
            "POST", "/auth/login", {"email": "cat@example.com", "password": "nope nope nope"}
        )
        unknown = client.call(
            "POST", "/auth/login", {"email": "dog@example.com", "password": "nope nope nope"}
        )
        assert wrong.status == unknown.status == 401
        assert wrong.raw == unknown.raw
        drop = {"Date", "Content-Length", "apigw-requestid"}
        assert {k: v for k, v in wrong.headers.items() if k not in drop} == {
            k: v for k, v in unknown.headers.items() if k not in drop
        }
        client.call(
            "POST", "/auth/login", {"email": "cat@example.com", "password": "nope nope nope"}
        )
        locked = client.call(
            "POST", "/auth/login", {"email": "cat@example.com", "password": PASSWORD}
        )
        assert locked.status == 429
        assert locked.json()["error"] == "too_many_attempts"
        assert 1 <= int(locked.headers["Retry-After"]) <= 2
        import time

        time.sleep(int(locked.headers["Retry-After"]))
        assert (
            client.call(
                "POST", "/auth/login", {"email": "cat@example.com", "password": PASSWORD}
            ).status
            == 200
        )


def test_signup_refuses_breached_and_context_passwords(api: Client) -> None:
    breached = api.call(
        "POST", "/auth/signup", {"email": "eve@example.com", "password": "1qaz2wsx3edc4rfv"}
    )
    assert breached.status == 400
    assert breached.json()["error"] == "weak_password"
    assert "breached" in breached.json()["message"]
    own = api.call(
        "POST",
        "/auth/signup",
        {"email": "averylonglocalpart@example.com", "password": "averylonglocalpart"},
    )
    assert own.status == 400
    assert own.json()["error"] == "weak_password"
