"""Issue 8 items 2 and 6 over real HTTP against `python -m localapi`: the login CSRF a
cross-site `<form enctype="text/plain">` could do, the cross-site rule on every
state-changing route, and 401 for a malformed refresh token (docs/routes.md, "Cross-site
calls and content type")."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from localapi.testing import running_local_api
from tests.support.http_client import Client, Reply
from tests.support.local_mail import sign_up, sign_up_and_verify, wait_for_mail

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
PASSWORD = "correct horse battery staple"
WRONG = "a wrong but long passphrase"
MAX_FAILED_LOGINS = 3
EVIL = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
BROWSER = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Referer": "https://evil.example/",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
}


def form_post(email: str, password: str) -> bytes:
    """What `<form enctype="text/plain">` with the field name `{"email":...,"x":"` and the
    value `"}` sends: a JSON object, byte for byte."""
    return json.dumps({"email": email, "password": password, "x": "=y"}).encode()


@pytest.fixture(scope="module")
def api() -> Iterator[Client]:
    with running_local_api({"MAX_FAILED_LOGINS": str(MAX_FAILED_LOGINS)}) as base_url:
        yield Client(base_url)


@pytest.fixture(scope="module")
def victim(api: Client) -> str:
    email = "csrf-victim@example.com"
    sign_up_and_verify(api, email, PASSWORD)
    return email


def assert_refused(reply: Reply) -> None:
    assert (reply.status, reply.json()["error"]) in {
        (403, "cross_site_request"),
        (415, "unsupported_media_type"),
    }, reply.raw
    assert reply.cookies() == []


def test_the_text_plain_cross_site_login_is_refused_sets_no_cookie_and_counts_nothing(
    api: Client, victim: str
) -> None:
    headers = {"Content-Type": "text/plain", **EVIL, **BROWSER}
    assert_refused(api.send("POST", "/auth/login", form_post(victim, PASSWORD), headers))
    # wrong passwords, more than the lock-out allows: not one of them is counted
    for _ in range(MAX_FAILED_LOGINS + 1):
        assert_refused(api.send("POST", "/auth/login", form_post(victim, WRONG), headers))
    login = api.call("POST", "/auth/login", {"email": victim, "password": PASSWORD})
    assert login.status == 200, login.raw
    assert login.refresh_cookie()


def test_a_text_plain_login_without_browser_headers_is_415(api: Client, victim: str) -> None:
    reply = api.send(
        "POST", "/auth/login", form_post(victim, PASSWORD), {"Content-Type": "text/plain"}
    )
    assert (reply.status, reply.json()["error"]) == (415, "unsupported_media_type")
    assert reply.cookies() == []


def test_a_text_plain_signup_creates_no_account(api: Client) -> None:
    email = "csrf-signup@example.com"
    body = form_post(email, PASSWORD)
    cross_site = {"Content-Type": "text/plain", **EVIL, **BROWSER}
    assert_refused(api.send("POST", "/auth/signup", body, cross_site))
    no_browser = api.send("POST", "/auth/signup", body, {"Content-Type": "text/plain"})
    assert (no_browser.status, no_browser.json()["error"]) == (415, "unsupported_media_type")
    no_type = api.send("POST", "/auth/signup", body)
    assert (no_type.status, no_type.json()["error"]) == (415, "unsupported_media_type")
    unknown = api.call("POST", "/auth/login", {"email": email, "password": PASSWORD})
    assert (unknown.status, unknown.json()["error"]) == (401, "invalid_credentials")
    assert sign_up(api, email, PASSWORD).json() == {"email": email}
    # A new email's mail (a verification link), not a taken one's notice (no link).
    (mail,) = wait_for_mail(api, email)
    assert len(mail["tokens"]) == 1, mail


def test_a_cross_site_json_login_is_403_and_sets_no_cookie(api: Client, victim: str) -> None:
    reply = api.call("POST", "/auth/login", {"email": victim, "password": PASSWORD}, EVIL)
    assert (reply.status, reply.json()["error"]) == (403, "cross_site_request")
    assert reply.cookies() == []


def test_a_cross_site_body_refresh_and_logout_are_403_and_change_nothing(
    api: Client, victim: str
) -> None:
    login = api.call(
        "POST",
        "/auth/login",
        {"email": victim, "password": PASSWORD, "refresh_token_delivery": "body"},
    )
    token = login.json()["refresh_token"]
    for path in ("/auth/refresh", "/auth/logout"):
        reply = api.call("POST", path, {"refresh_token": token}, EVIL)
        assert (reply.status, reply.json()["error"]) == (403, "cross_site_request")
        assert reply.cookies() == []
    refreshed = api.call("POST", "/auth/refresh", {"refresh_token": token})
    assert refreshed.status == 200, refreshed.raw


@pytest.mark.parametrize("token", ["x" * 600, "a\tb"])
def test_a_malformed_or_too_long_refresh_token_is_401_invalid_token(
    api: Client, token: str
) -> None:
    by_body = api.call("POST", "/auth/refresh", {"refresh_token": token})
    assert (by_body.status, by_body.json()["error"]) == (401, "invalid_token")
    by_cookie = api.send(
        "POST", "/auth/refresh", headers={"Cookie": f"__Host-refresh_token={token}"}
    )
    assert (by_cookie.status, by_cookie.json()["error"]) == (401, "invalid_token")
    logout = api.call("POST", "/auth/logout", {"refresh_token": token})
    assert logout.status == 204
    assert any("Max-Age=0" in c for c in logout.cookies())


def test_no_refresh_token_presented_is_still_400(api: Client) -> None:
    for sent in (None, {"refresh_token": ""}):
        reply = api.call("POST", "/auth/refresh", sent)
        assert (reply.status, reply.json()["error"]) == (400, "invalid_request")


def test_a_same_origin_browser_session_still_works(api: Client, victim: str) -> None:
    same_origin = {"Origin": api.origin, "Sec-Fetch-Site": "same-origin"}
    login = api.call(
        "POST",
        "/auth/login",
        {"email": victim, "password": PASSWORD},
        {**same_origin, "Content-Type": "application/json; charset=UTF-8"},
    )
    assert login.status == 200, login.raw
    cookie = {"Cookie": f"__Host-refresh_token={login.refresh_cookie()}"}
    # a fetch() with credentials and no body: no Content-Type needed
    refreshed = api.send("POST", "/auth/refresh", headers={**same_origin, **cookie})
    assert refreshed.status == 200, refreshed.raw
    access = refreshed.json()["access_token"]
    me = api.send("GET", "/me", headers={"Authorization": f"Bearer {access}", **EVIL})
    assert me.status == 200  # a GET is not state-changing: the rule does not apply
    cookie = {"Cookie": f"__Host-refresh_token={refreshed.refresh_cookie()}"}
    out = api.send("POST", "/auth/logout", headers={**same_origin, **cookie})
    assert out.status == 204
