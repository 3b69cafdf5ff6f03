"""Issue 8 over real HTTP: the lock-out under a burst, the fixed issuer, email_verified."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from localapi.testing import running_local_api
from tests.support.http_client import Client, Reply
from tests.support.local_mail import sign_up, sign_up_and_verify

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
PASSWORD = "correct horse battery staple"
WRONG = "wrong password, really"
MAX = 3


@pytest.fixture(scope="module")
def api() -> Iterator[Client]:
    with running_local_api(env={"MAX_FAILED_LOGINS": str(MAX), "LOCKOUT_SECONDS": "300"}) as url:
        yield Client(url)


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def burst(api: Client, email: str, password: str, count: int) -> list[Reply]:
    replies: list[Reply | None] = [None] * count
    start = threading.Barrier(count, timeout=30)

    def attempt(index: int) -> None:
        start.wait()
        replies[index] = api.call("POST", "/auth/login", {"email": email, "password": password})

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(reply is not None for reply in replies)
    return [reply for reply in replies if reply is not None]


def test_twenty_concurrent_wrong_passwords_then_the_right_one_is_refused(api: Client) -> None:
    email = "burst@example.com"
    sign_up_and_verify(api, email, PASSWORD)
    replies = burst(api, email, WRONG, 20)
    statuses = sorted(reply.status for reply in replies)
    # At most MAX passwords were checked (401); every other attempt was refused unchecked.
    assert [s for s in statuses if s != 429] == [401] * MAX, statuses
    assert all(reply.status in (401, 429) for reply in replies)
    right = api.call("POST", "/auth/login", {"email": email, "password": PASSWORD})
    assert right.status == 429, right.raw
    assert right.json()["error"] == "too_many_attempts"
    assert 1 <= int(right.headers["Retry-After"]) <= 300
    assert right.cookies() == []


def test_a_burst_of_right_passwords_after_the_limit_gets_no_session(api: Client) -> None:
    email = "burst2@example.com"
    sign_up_and_verify(api, email, PASSWORD)
    burst(api, email, WRONG, 10)
    replies = burst(api, email, PASSWORD, 10)
    assert [reply.status for reply in replies] == [429] * 10
    assert all(reply.cookies() == [] for reply in replies)


def test_the_issuer_is_fixed_whatever_host_the_request_sends(api: Client) -> None:
    email = "host@example.com"
    sign_up_and_verify(api, email, PASSWORD)
    reply = api.call(
        "POST",
        "/auth/login",
        {"email": email, "password": PASSWORD, "refresh_token_delivery": "body"},
        headers={"Host": "evil.example"},
    )
    assert reply.status == 200, reply.raw
    token = reply.json()["access_token"]
    claims = claims_of(token)
    assert claims["iss"] == api.origin
    assert claims["email_verified"] is True
    # The token works whatever Host the protected call sends.
    for host in ("evil.example", "localhost:1", api.origin.split("//")[1]):
        me = api.call("GET", "/me", headers={"Authorization": f"Bearer {token}", "Host": host})
        assert me.status == 200, (host, me.raw)
        assert me.json()["email_verified"] is True
    discovery = api.call(
        "GET", "/.well-known/openid-configuration", headers={"Host": "evil.example"}
    )
    assert discovery.json()["issuer"] == api.origin
    assert discovery.json()["jwks_uri"] == api.origin + "/.well-known/jwks.json"
    refreshed = api.call(
        "POST",
        "/auth/refresh",
        {"refresh_token": reply.json()["refresh_token"]},
        headers={"Host": "evil.example"},
    )
    assert refreshed.status == 200, refreshed.raw
    assert claims_of(refreshed.json()["access_token"])["iss"] == api.origin


def test_an_idna_domain_is_one_account(api: Client) -> None:
    unicode_email = "ann@exämple.com"
    verified = sign_up_and_verify(api, unicode_email, PASSWORD)
    assert verified["email"] == unicode_email  # the domain's normal form is Unicode
    # Taken: the same 202 as a new email, with the same normalised email.
    again = sign_up(api, "ann@xn--exmple-cua.com", "another password, also long")
    assert again.json() == {"email": unicode_email}
    login = api.call(
        "POST", "/auth/login", {"email": "ANN@XN--EXMPLE-CUA.COM", "password": PASSWORD}
    )
    assert login.status == 200, login.raw


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example", "Content-Type": "text/plain"},
        {"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"},
        {"Origin": "null"},
    ],
)
def test_local_tools_refuse_cross_site_calls(api: Client, headers: dict[str, str]) -> None:
    """Any page the developer visits could rotate the local keys with a text/plain POST."""
    kids = api.call("GET", "/.well-known/jwks.json").json()["keys"]
    refused = api.call("POST", "/_localapi/rotate-keys", raw=b"x=y", headers=headers)
    assert refused.status == 403, refused.raw
    assert refused.json()["error"] == "cross_site_request"
    assert api.call("GET", "/.well-known/jwks.json").json()["keys"] == kids


def test_local_tools_answer_their_own_origin_and_clis(api: Client) -> None:
    own = api.call("POST", "/_localapi/rotate-keys", headers={"Origin": api.origin})
    assert own.status == 200, own.raw
    assert api.call("POST", "/_localapi/rotate-keys").status == 200


def test_local_tools_refuse_a_rebound_host(api: Client) -> None:
    """A page on evil.example rebound to 127.0.0.1 sends Host and Origin evil.example."""
    port = api.origin.rsplit(":", 1)[1]
    rebound = api.call(
        "POST",
        "/_localapi/rotate-keys",
        headers={"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"},
    )
    assert rebound.status == 403, rebound.raw
    assert "not this machine" in rebound.json()["message"]
    local = api.call("POST", "/_localapi/rotate-keys", headers={"Host": f"localhost:{port}"})
    assert local.status == 200, local.raw
