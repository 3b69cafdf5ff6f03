"""functions/sessions and functions/account driven by their events/ files, each with the
context the authorizer's decision gives for a real access token (Stack.authorized)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.events import body, error_of, load_event, with_json_body
from tests.support.handlers import Stack

pytestmark = pytest.mark.xdist_group("handlers")

PASSWORD = "correct horse battery staple"  # the current password of events/password_change.json
NEW_PASSWORD = json.loads(load_event("password_change.json")["body"])["new_password"]
WRONG = "certainly not the password"
AGENT = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15"
CLEARED = "__Host-refresh_token=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0"
UNKNOWN_ID = "0b8f4c3e-2d6a-4f1b-9c7e-5a4d3b2c1e0f"


def account(stack: Stack, email: str) -> str:
    """A verified account of its own with PASSWORD."""
    stack.sign_up_verified(email, PASSWORD)
    return email


def refresh_status(stack: Stack, tokens: dict[str, Any]) -> int:
    event = with_json_body("refresh_body.json", {"refresh_token": tokens["refresh_token"]})
    status: int = stack.invoke("refresh", event)["statusCode"]
    return status


def listed(stack: Stack, access_token: str) -> list[dict[str, Any]]:
    reply = stack.call("sessions", "sessions_list.json", access_token)
    assert reply["statusCode"] == 200, reply
    sessions: list[dict[str, Any]] = body(reply)["sessions"]
    return sessions


def sid(stack: Stack, tokens: dict[str, Any]) -> str:
    return str(stack.authorizer_context(tokens["access_token"])["sid"])


# --- GET /auth/sessions ----------------------------------------------------------------------


def test_the_list_shows_each_session_newest_first_and_marks_the_current_one(
    stack: Stack,
) -> None:
    email = account(stack, "list@example.com")
    phone = stack.log_in(email, PASSWORD, user_agent="A" * 300 + AGENT, ip="198.51.100.4")
    laptop = stack.log_in(email, PASSWORD, user_agent=AGENT, ip="2001:db8::7")
    assert refresh_status(stack, phone) == 200
    for tokens, current in ((laptop, sid(stack, laptop)), (phone, sid(stack, phone))):
        sessions = listed(stack, tokens["access_token"])
        assert [s["current"] for s in sessions] == [s["session_id"] == current for s in sessions]
        assert sum(s["current"] for s in sessions) == 1
    sessions = listed(stack, laptop["access_token"])
    # newest first (logins within one second: in the order of their ids)
    assert [s["created_at"] for s in sessions] == sorted(
        (s["created_at"] for s in sessions), reverse=True
    )
    by_id = {s["session_id"]: s for s in sessions}
    assert set(by_id) == {sid(stack, laptop), sid(stack, phone)}
    newest, oldest = by_id[sid(stack, laptop)], by_id[sid(stack, phone)]
    for entry in sessions:
        assert set(entry) == {
            "session_id",
            "created_at",
            "last_used_at",
            "expires_at",
            "user_agent",
            "ip",
            "current",
        }
        assert entry["expires_at"] == entry["created_at"] + 7776000
    assert (newest["user_agent"], newest["ip"]) == (AGENT, "2001:db8::7")
    assert (oldest["user_agent"], oldest["ip"]) == ("A" * 256, "198.51.100.4")
    assert newest["created_at"] >= oldest["created_at"]
    assert oldest["last_used_at"] >= oldest["created_at"]


def test_the_list_answers_no_store(stack: Stack) -> None:
    email = account(stack, "nostore@example.com")
    tokens = stack.log_in(email, PASSWORD)
    reply = stack.call("sessions", "sessions_list.json", tokens["access_token"])
    assert reply["headers"]["Cache-Control"] == "no-store"


# --- DELETE /auth/sessions/{session_id} ------------------------------------------------------


def test_ending_one_of_ones_own_sessions(stack: Stack) -> None:
    email = account(stack, "endone@example.com")
    mine, other = stack.log_in(email, PASSWORD), stack.log_in(email, PASSWORD)
    reply = stack.call(
        "sessions", "sessions_delete.json", mine["access_token"], session_id=sid(stack, other)
    )
    assert reply["statusCode"] == 204, reply
    assert [s["session_id"] for s in listed(stack, mine["access_token"])] == [sid(stack, mine)]
    assert refresh_status(stack, other) == 401
    assert refresh_status(stack, mine) == 200


def test_another_users_session_answers_exactly_as_an_unknown_one(stack: Stack) -> None:
    mine = stack.log_in(account(stack, "mine@example.com"), PASSWORD)
    theirs = stack.log_in(account(stack, "theirs@example.com"), PASSWORD)

    def end(session_id: str) -> dict[str, Any]:
        return stack.call(
            "sessions", "sessions_delete.json", mine["access_token"], session_id=session_id
        )

    other, unknown, malformed = end(sid(stack, theirs)), end(UNKNOWN_ID), end("not-a-session")
    assert error_of(other) == (404, "not_found")
    for reply in (unknown, malformed):
        assert reply["statusCode"] == other["statusCode"]
        assert reply["body"] == other["body"]
        assert reply["headers"] == other["headers"]
    assert len(listed(stack, theirs["access_token"])) == 1  # nothing changed
    assert refresh_status(stack, theirs) == 200


# --- POST /auth/logout-all -------------------------------------------------------------------


def test_logout_all_ends_every_session_and_clears_the_cookie(stack: Stack) -> None:
    email = account(stack, "everywhere@example.com")
    grants = [stack.log_in(email, PASSWORD) for _ in range(3)]
    bystander = stack.log_in(account(stack, "bystander@example.com"), PASSWORD)
    reply = stack.call("sessions", "logout_all.json", grants[0]["access_token"])
    assert reply["statusCode"] == 204, reply
    assert reply["cookies"] == [CLEARED]
    assert listed(stack, grants[1]["access_token"]) == []
    for tokens in grants:
        assert refresh_status(stack, tokens) == 401
    assert refresh_status(stack, bystander) == 200
    # a login afterwards is a new session that stays
    after = stack.log_in(email, PASSWORD)
    assert [s["session_id"] for s in listed(stack, after["access_token"])] == [sid(stack, after)]


def test_logout_all_from_another_site_is_refused_and_ends_nothing(stack: Stack) -> None:
    tokens = stack.log_in(account(stack, "crosssite@example.com"), PASSWORD)
    event = stack.authorized("logout_all.json", tokens["access_token"])
    event["headers"] = {**event["headers"], "sec-fetch-site": "cross-site"}
    assert error_of(stack.invoke("sessions", event)) == (403, "cross_site_request")
    assert refresh_status(stack, tokens) == 200


# --- POST /auth/password/change --------------------------------------------------------------


def test_a_password_change_keeps_the_callers_session_only(stack: Stack) -> None:
    email = account(stack, "change@example.com")
    mine, other = stack.log_in(email, PASSWORD), stack.log_in(email, PASSWORD)
    reply = stack.call(
        "account",
        "password_change.json",
        mine["access_token"],
        payload={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert reply["statusCode"] == 204, reply
    assert "cookies" not in reply or not reply["cookies"]
    assert refresh_status(stack, mine) == 200
    assert refresh_status(stack, other) == 401
    assert [s["session_id"] for s in listed(stack, mine["access_token"])] == [sid(stack, mine)]
    stack.run_mailer()
    assert stack.mails_to(email)[-1].subject.endswith("your password was changed")
    login = with_json_body("login_ok.json", {"email": email, "password": PASSWORD})
    assert error_of(stack.invoke("login", login)) == (401, "invalid_credentials")
    assert stack.log_in(email, NEW_PASSWORD)["access_token"]


def test_the_event_files_change_and_its_weak_variant(stack: Stack) -> None:
    """The files' own bodies (their current password is PASSWORD)."""
    email = account(stack, "eventfiles@example.com")
    tokens = stack.log_in(email, PASSWORD)
    weak = stack.call("account", "password_change_weak.json", tokens["access_token"])
    assert error_of(weak) == (400, "weak_password")
    assert (
        stack.call("account", "password_change.json", tokens["access_token"])["statusCode"] == 204
    )
    assert stack.log_in(email, NEW_PASSWORD)["access_token"]


def test_wrong_current_passwords_lock_out_change_delete_and_login(stack: Stack) -> None:
    email = account(stack, "lockme@example.com")
    tokens = stack.log_in(email, PASSWORD)
    token = tokens["access_token"]
    change = {"current_password": WRONG, "new_password": NEW_PASSWORD}
    for _ in range(3):
        reply = stack.call("account", "password_change.json", token, payload=change)
        assert error_of(reply) == (401, "invalid_credentials")
    for _ in range(2):  # MAX_FAILED_LOGINS is 5
        reply = stack.call("account", "account_delete.json", token, payload={"password": WRONG})
        assert error_of(reply) == (401, "invalid_credentials")
    right = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    locked = stack.call("account", "password_change.json", token, payload=right)
    assert error_of(locked) == (429, "too_many_attempts")
    assert 1 <= int(locked["headers"]["Retry-After"]) <= 300
    deleting = stack.call("account", "account_delete.json", token, payload={"password": PASSWORD})
    assert error_of(deleting) == (429, "too_many_attempts")
    login = with_json_body("login_ok.json", {"email": email, "password": PASSWORD})
    assert error_of(stack.invoke("login", login)) == (429, "too_many_attempts")
    assert refresh_status(stack, tokens) == 200  # nothing was changed or deleted


def test_a_weak_new_password_counts_no_failure(stack: Stack) -> None:
    email = account(stack, "weakchange@example.com")
    token = stack.log_in(email, PASSWORD)["access_token"]
    weak = {"current_password": WRONG, "new_password": "short"}
    for _ in range(6):
        reply = stack.call("account", "password_change.json", token, payload=weak)
        assert error_of(reply) == (400, "weak_password")
    assert stack.log_in(email, PASSWORD)["access_token"]  # not locked out


# --- DELETE /me ------------------------------------------------------------------------------


def test_deleting_the_account_then_signing_up_again(stack: Stack) -> None:
    email = account(stack, "leaving@example.com")
    tokens = stack.log_in(email, PASSWORD)
    reply = stack.call(
        "account", "account_delete.json", tokens["access_token"], payload={"password": PASSWORD}
    )
    assert reply["statusCode"] == 204, reply
    assert reply["cookies"] == [CLEARED]
    assert refresh_status(stack, tokens) == 401
    stack.run_mailer()
    assert stack.mails_to(email)[-1].subject.endswith("your account was deleted")
    assert listed(stack, tokens["access_token"]) == []  # the access token outlived it
    # the address signs up again at once; the old session stays refused
    again = stack.sign_up_verified(email, NEW_PASSWORD)
    assert again["user_id"] != stack.authorizer_context(tokens["access_token"])["sub"]
    assert stack.log_in(email, NEW_PASSWORD)["access_token"]
    assert refresh_status(stack, tokens) == 401


# --- without the authorizer's context ---------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "event"),
    [
        ("sessions", "sessions_list.json"),
        ("sessions", "logout_all.json"),
        ("account", "account_delete.json"),
    ],
)
def test_a_route_invoked_without_the_authorizer_context_does_nothing(
    stack: Stack, function: str, event: str
) -> None:
    bare = load_event(event)
    bare["requestContext"] = {**bare["requestContext"], "authorizer": {}}
    reply = stack.invoke(function, bare)
    assert 400 <= reply["statusCode"] < 500
