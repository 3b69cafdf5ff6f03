"""Sessions and account over real HTTP through `python -m localapi` and its mailbox
(CONTRACT §3 routes and the session shape, §4 `sid`, §5 effects; docs/tokens.md
"Sessions the account lists"): two devices listed and `current` marked, last use moved
by a refresh, one ended, another user's id answered as an unknown one, logout-all,
password change (and its lock-out), account deletion and signing up again, the races
over threads, and the cross-site, content-type and no-token refusals of the new routes.

One local API for the module (required verification, a small lock-out); every test uses
addresses of its own, so the tests need no order and share nothing but the server.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from localapi.testing import running_local_api
from tests.support.http_client import Client, Reply
from tests.support.local_mail import (
    Device,
    logged_in_device,
    sign_up,
    verified_account,
    verify,
    wait_for_mail,
    wait_for_token,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-sessions")]
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase, long enough"
WRONG = "a wrong but long passphrase"
MAX_FAILED_LOGINS = 3
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148 Safari/604.1"
# Longer than the 256 characters a session keeps of it.
LAPTOP = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0 " + "x" * 300
SESSION_KEYS = {
    "session_id",
    "created_at",
    "last_used_at",
    "expires_at",
    "user_agent",
    "ip",
    "current",
}
PER_REQUEST_HEADERS = {"date", "apigw-requestid"}
EVIL = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
RACE_ROUNDS = 3
SESSIONS = "/auth/sessions"


@pytest.fixture(scope="module")
def api() -> Iterator[Client]:
    env = {
        "EMAIL_VERIFICATION": "required",
        "MAX_FAILED_LOGINS": str(MAX_FAILED_LOGINS),
        "LOCKOUT_SECONDS": "300",
        "MAX_EMAILS_PER_HOUR": "20",
    }
    with running_local_api(env) as base_url:
        yield Client(base_url)


def two_devices(api: Client, email: str, password: str = PASSWORD) -> tuple[Device, Device]:
    """The phone logged in, then (a second later, so that the two are ordered) the
    laptop."""
    phone = logged_in_device(api, email, password, PHONE)
    time.sleep(1.1)
    laptop = logged_in_device(api, email, password, LAPTOP)
    return phone, laptop


def listed(device: Device) -> list[dict[str, Any]]:
    reply = device.call("GET", SESSIONS)
    assert reply.status == 200, reply.raw
    assert reply.cookies() == []
    sessions: list[dict[str, Any]] = reply.json()["sessions"]
    return sessions


def login(api: Client, email: str, password: str) -> Reply:
    return api.call("POST", "/auth/login", {"email": email, "password": password})


def change_password(device: Device, current: str, new: str) -> Reply:
    return device.call(
        "POST", "/auth/password/change", {"current_password": current, "new_password": new}
    )


def delete_me(device: Device, password: str) -> Reply:
    return device.call("DELETE", "/me", {"password": password})


def assert_error(reply: Reply, status: int, error: str) -> None:
    assert (reply.status, reply.json().get("error")) == (status, error), reply.raw


def assert_refused_refresh(device: Device, refresh_token: str) -> None:
    assert_error(device.refresh_with(refresh_token), 401, "invalid_token")


def assert_no_content(reply: Reply) -> None:
    assert reply.status == 204, reply.raw
    assert reply.raw == b""


def assert_cookie_cleared(reply: Reply) -> None:
    cleared = [c for c in reply.cookies() if c.startswith("__Host-refresh_token=;")]
    assert len(cleared) == 1, reply.cookies()
    assert "Max-Age=0" in cleared[0], reply.cookies()


def shape(reply: Reply) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Status, body and every header but the per-request ones: what must not differ."""
    headers = sorted(
        (name.lower(), value)
        for name, value in reply.headers.items()
        if name.lower() not in PER_REQUEST_HEADERS
    )
    return reply.status, reply.raw, headers


def logout_all_of(device: Device) -> Callable[[], Reply]:
    return lambda: device.call("POST", "/auth/logout-all")


def in_threads(*calls: Callable[[], Reply]) -> list[Reply]:
    """The calls at once (started together at a barrier), their replies in order."""
    replies: list[Reply | None] = [None] * len(calls)
    errors: list[BaseException] = []
    start = threading.Barrier(len(calls), timeout=30)

    def run(index: int) -> None:
        try:
            start.wait()
            replies[index] = calls[index]()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    done = [reply for reply in replies if reply is not None]
    assert len(done) == len(calls), "a call did not finish"
    return done


# -- the list ---------------------------------------------------------------------------


def test_two_devices_are_listed_newest_first_each_marking_its_own_current(api: Client) -> None:
    email = verified_account(api, "list", PASSWORD)
    phone, laptop = two_devices(api, email)
    from_phone, from_laptop = listed(phone), listed(laptop)
    for sessions in (from_phone, from_laptop):
        assert [set(s) for s in sessions] == [SESSION_KEYS, SESSION_KEYS]
        # newest first: the laptop logged in last
        assert [s["session_id"] for s in sessions] == [
            laptop.claims()["sid"],
            phone.claims()["sid"],
        ]
        newest, oldest = sessions
        assert newest["created_at"] > oldest["created_at"]
        assert newest["user_agent"] == LAPTOP[:256]
        assert oldest["user_agent"] == PHONE
        for session in sessions:
            assert session["ip"] == "127.0.0.1"
            assert session["created_at"] <= session["last_used_at"]
            assert session["expires_at"] > session["created_at"]
            assert all(isinstance(session[k], int) for k in ("created_at", "expires_at"))
    assert [s["current"] for s in from_phone] == [False, True]
    assert [s["current"] for s in from_laptop] == [True, False]
    # The list of another account is its own.
    other = logged_in_device(api, verified_account(api, "list-other", PASSWORD), PASSWORD, PHONE)
    (own,) = listed(other)
    assert own["session_id"] == other.claims()["sid"]
    assert own["current"] is True


def test_a_refresh_moves_last_used_at_and_keeps_the_session(api: Client) -> None:
    device = logged_in_device(api, verified_account(api, "last-used", PASSWORD), PASSWORD, PHONE)
    (before,) = listed(device)
    time.sleep(1.1)
    refreshed = device.refresh()
    assert refreshed.status == 200, refreshed.raw
    assert device.claims()["sid"] == before["session_id"]
    (after,) = listed(device)
    assert after["last_used_at"] > before["last_used_at"]
    assert {k: v for k, v in after.items() if k != "last_used_at"} == {
        k: v for k, v in before.items() if k != "last_used_at"
    }


# -- ending one -------------------------------------------------------------------------


def test_ending_one_session_refuses_its_refresh_and_keeps_the_other(api: Client) -> None:
    phone, laptop = two_devices(api, verified_account(api, "end-one", PASSWORD))
    laptop_sid, laptop_token = laptop.claims()["sid"], laptop.refresh_token
    assert laptop_token is not None
    ended = phone.call("DELETE", f"{SESSIONS}/{laptop_sid}")
    assert_no_content(ended)
    assert ended.cookies() == []  # the caller's own cookie stays
    assert_error(laptop.refresh(), 401, "invalid_token")
    assert_refused_refresh(phone, laptop_token)
    assert phone.refresh().status == 200
    assert [s["session_id"] for s in listed(phone)] == [phone.claims()["sid"]]
    again = phone.call("DELETE", f"{SESSIONS}/{laptop_sid}")
    assert_error(again, 404, "not_found")


def test_ending_the_callers_own_session(api: Client) -> None:
    device = logged_in_device(api, verified_account(api, "end-own", PASSWORD), PASSWORD, PHONE)
    assert_no_content(device.call("DELETE", f"{SESSIONS}/{device.claims()['sid']}"))
    assert_error(device.refresh(), 401, "invalid_token")
    assert listed(device) == []


def test_another_users_session_answers_exactly_as_an_unknown_one_and_nothing_changes(
    api: Client,
) -> None:
    ann = logged_in_device(api, verified_account(api, "ann", PASSWORD), PASSWORD, PHONE)
    bob = logged_in_device(api, verified_account(api, "bob", PASSWORD), PASSWORD, LAPTOP)
    bob_sid = bob.claims()["sid"]
    bob_before = listed(bob)
    others = ann.call("DELETE", f"{SESSIONS}/{bob_sid}")
    unknown = ann.call("DELETE", f"{SESSIONS}/{uuid.uuid4()}")
    assert_error(others, 404, "not_found")
    assert shape(others) == shape(unknown)
    assert others.cookies() == []
    malformed = ann.call("DELETE", f"{SESSIONS}/not-a-session-id")
    assert shape(malformed) == shape(unknown)
    # nothing changed: bob's session listed as before and still refreshing, ann's too
    assert listed(bob) == bob_before
    assert bob.refresh().status == 200
    assert ann.refresh().status == 200
    assert [s["session_id"] for s in listed(ann)] == [ann.claims()["sid"]]


# -- logout-all -------------------------------------------------------------------------


def test_logout_all_ends_every_session_and_clears_the_cookie(api: Client) -> None:
    email = verified_account(api, "logout-all", PASSWORD)
    phone, laptop = two_devices(api, email)
    tokens = [phone.refresh_token, laptop.refresh_token]
    access = phone.access_token
    out = phone.call("POST", "/auth/logout-all")
    assert_no_content(out)
    assert_cookie_cleared(out)
    assert phone.refresh_token is None  # the jar followed the Set-Cookie
    for token in tokens:
        assert token is not None
        assert_refused_refresh(laptop, token)
    assert_error(laptop.refresh(), 401, "invalid_token")
    # An access token runs out on its own (CONTRACT §4): still accepted until then.
    me = api.send("GET", "/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status == 200, me.raw
    assert listed(phone) == []
    # A login afterwards is a new session, the only one listed.
    again = logged_in_device(api, email, PASSWORD, PHONE)
    assert [s["session_id"] for s in listed(again)] == [again.claims()["sid"]]


def test_a_refresh_racing_logout_all_leaves_no_refresh_token_working(api: Client) -> None:
    email = verified_account(api, "race-logout", PASSWORD)
    for _ in range(RACE_ROUNDS):
        phone, laptop = two_devices(api, email)
        presented = laptop.refresh_token
        assert presented is not None
        refresh, logout_all = in_threads(laptop.refresh, logout_all_of(phone))
        assert_no_content(logout_all)
        assert refresh.status in {200, 401}, refresh.raw
        # whichever won, no token of the laptop's works now: the one it presented, nor the
        # one the refresh may have returned
        assert_refused_refresh(laptop, presented)
        if refresh.status == 200:
            assert_refused_refresh(laptop, refresh.refresh_cookie())
        assert listed(phone) == []


# -- password change --------------------------------------------------------------------


def test_password_change_ends_the_other_sessions_keeps_the_callers_and_sends_a_notice(
    api: Client,
) -> None:
    email = verified_account(api, "change", PASSWORD)
    phone, laptop = two_devices(api, email)
    laptop_token = laptop.refresh_token
    assert laptop_token is not None
    assert_error(change_password(phone, PASSWORD, "short"), 400, "weak_password")
    assert laptop.refresh().status == 200  # the weak attempt changed nothing
    laptop_token = laptop.refresh_token
    assert laptop_token is not None
    changed = change_password(phone, PASSWORD, NEW_PASSWORD)
    assert_no_content(changed)
    assert changed.cookies() == []
    assert_refused_refresh(phone, laptop_token)
    assert phone.refresh().status == 200
    assert [s["session_id"] for s in listed(phone)] == [phone.claims()["sid"]]
    assert_error(login(api, email, PASSWORD), 401, "invalid_credentials")
    assert login(api, email, NEW_PASSWORD).status == 200
    notice = wait_for_mail(api, email, count=2)[1]
    assert "your password was changed" in notice["subject"]
    assert notice["tokens"] == []


def test_wrong_current_passwords_count_toward_the_lockout(api: Client) -> None:
    email = verified_account(api, "change-lockout", PASSWORD)
    device = logged_in_device(api, email, PASSWORD, PHONE)
    for _ in range(MAX_FAILED_LOGINS):
        assert_error(change_password(device, WRONG, NEW_PASSWORD), 401, "invalid_credentials")
    locked = change_password(device, PASSWORD, NEW_PASSWORD)
    assert_error(locked, 429, "too_many_attempts")
    assert 0 < int(locked.headers["Retry-After"]) <= 300
    assert_error(login(api, email, PASSWORD), 429, "too_many_attempts")
    assert_error(delete_me(device, PASSWORD), 429, "too_many_attempts")
    # nothing changed: the session still refreshes
    assert device.refresh().status == 200


def test_a_wrong_password_at_delete_me_counts_toward_the_lockout_too(api: Client) -> None:
    email = verified_account(api, "delete-lockout", PASSWORD)
    device = logged_in_device(api, email, PASSWORD, PHONE)
    assert_error(change_password(device, WRONG, NEW_PASSWORD), 401, "invalid_credentials")
    assert_error(login(api, email, WRONG), 401, "invalid_credentials")
    assert_error(delete_me(device, WRONG), 401, "invalid_credentials")
    assert_error(login(api, email, PASSWORD), 429, "too_many_attempts")


def test_two_concurrent_password_changes_exactly_one_wins(api: Client) -> None:
    email = verified_account(api, "change-race", PASSWORD)
    phone, laptop = two_devices(api, email)
    passwords = ["the first racer's passphrase", "the second racer's passphrase"]
    replies = in_threads(
        lambda: change_password(phone, PASSWORD, passwords[0]),
        lambda: change_password(laptop, PASSWORD, passwords[1]),
    )
    statuses = [reply.status for reply in replies]
    assert sorted(statuses) == [204, 401], [reply.raw for reply in replies]
    winner = statuses.index(204)
    assert_error(replies[1 - winner], 401, "invalid_credentials")
    assert login(api, email, passwords[winner]).status == 200
    assert_error(login(api, email, passwords[1 - winner]), 401, "invalid_credentials")
    assert_error(login(api, email, PASSWORD), 401, "invalid_credentials")
    # the winner's device kept its session, the loser's was ended
    devices = (phone, laptop)
    assert devices[winner].refresh().status == 200
    assert_error(devices[1 - winner].refresh(), 401, "invalid_token")


# -- DELETE /me -------------------------------------------------------------------------


def test_delete_me_ends_everything_and_the_email_can_sign_up_again_at_once(
    api: Client,
) -> None:
    email = verified_account(api, "delete", PASSWORD)
    phone, laptop = two_devices(api, email)
    tokens = [phone.refresh_token, laptop.refresh_token]
    old_access = phone.access_token
    refused = delete_me(phone, WRONG)
    assert_error(refused, 401, "invalid_credentials")
    assert refused.cookies() == []
    assert phone.refresh().status == 200  # the wrong password changed nothing
    tokens[0] = phone.refresh_token
    deleted = delete_me(phone, PASSWORD)
    assert_no_content(deleted)
    assert_cookie_cleared(deleted)
    for token in tokens:
        assert token is not None
        assert_refused_refresh(laptop, token)
    assert_error(login(api, email, PASSWORD), 401, "invalid_credentials")
    notice = wait_for_mail(api, email, count=2)[1]
    assert "your account was deleted" in notice["subject"]
    assert notice["tokens"] == []
    # The same email signs up again at once: a new account, with a link (not a notice).
    sign_up(api, email, NEW_PASSWORD)
    link = wait_for_token(api, email, count=3)
    again = verify(api, link)
    assert again.status == 200, again.raw
    assert again.json()["user_id"] != phone.claims()["sub"]
    fresh = logged_in_device(api, email, NEW_PASSWORD, PHONE)
    assert_error(login(api, email, PASSWORD), 401, "invalid_credentials")
    # The old sessions stay refused, and are not the new account's.
    for token in tokens:
        assert token is not None
        assert_refused_refresh(laptop, token)
    assert [s["session_id"] for s in listed(fresh)] == [fresh.claims()["sid"]]
    # The old access token (still within its lifetime) sees nothing of the new account
    # and cannot act on it, even with the new account's password (each try counted as a
    # failed login for the email, as a wrong password is).
    stale = Device(api, LAPTOP, access_token=old_access)
    assert listed(stale) == []
    assert_error(delete_me(stale, NEW_PASSWORD), 401, "invalid_credentials")
    assert_error(change_password(stale, NEW_PASSWORD, PASSWORD), 401, "invalid_credentials")
    assert fresh.refresh().status == 200
    assert [s["session_id"] for s in listed(fresh)] == [fresh.claims()["sid"]]


# -- refusals ---------------------------------------------------------------------------

STATE_CHANGING: list[tuple[str, str, dict[str, str] | None]] = [
    ("DELETE", SESSIONS + "/{sid}", None),
    ("POST", "/auth/logout-all", None),
    ("POST", "/auth/password/change", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    ("DELETE", "/me", {"password": PASSWORD}),
]


@pytest.mark.parametrize(("method", "path", "body"), STATE_CHANGING)
def test_the_new_routes_refuse_cross_site_calls_and_other_content_types(
    api: Client, method: str, path: str, body: dict[str, str] | None
) -> None:
    email = verified_account(api, "refusals", PASSWORD)
    device = logged_in_device(api, email, PASSWORD, PHONE)
    target = path.format(sid=device.claims()["sid"])
    data = json.dumps(body or {}).encode()
    cross_site = device.call(method, target, body or {}, headers=EVIL)
    assert_error(cross_site, 403, "cross_site_request")
    assert cross_site.cookies() == []
    plain = api.send(
        method,
        target,
        data,
        device.headers(auth=True, extra={"Content-Type": "text/plain"}),
    )
    assert_error(plain, 415, "unsupported_media_type")
    assert plain.cookies() == []
    # nothing changed: the session refreshes, the password and the account are the same
    assert device.refresh().status == 200
    assert [s["session_id"] for s in listed(device)] == [device.claims()["sid"]]
    assert login(api, email, PASSWORD).status == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", SESSIONS),
        ("DELETE", f"{SESSIONS}/00000000-0000-4000-8000-000000000000"),
        ("POST", "/auth/logout-all"),
        ("POST", "/auth/password/change"),
        ("DELETE", "/me"),
    ],
)
def test_the_new_routes_without_a_token_answer_401_from_the_gateway(
    api: Client, method: str, path: str
) -> None:
    reply = api.send(method, path, b"{}", {"Content-Type": "application/json"})
    assert reply.status == 401, reply.raw
    assert reply.json() == {"message": "Unauthorized"}
    assert reply.cookies() == []
