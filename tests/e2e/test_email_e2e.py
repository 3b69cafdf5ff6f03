"""The email flows over real HTTP through `python -m localapi` and its mailbox (CONTRACT
§2, §3, §4 one-time tokens, §5, §7; docs/email.md): signup's identical 202, verification
and the replacement rule, resend, login under EMAIL_VERIFICATION=required and optional,
forgot and reset, MAX_EMAILS_PER_HOUR, the links and the local pages.

Two local APIs for the whole module: the default one (required mode, with a small mail
limit and lock-out so that both are reached quickly) and, for the one test that needs
it, an optional-mode one. Every test uses addresses of its own, so the tests need no
order and share nothing but the servers.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from localapi.testing import running_local_api
from tests.support.http_client import Client, Reply
from tests.support.local_mail import (
    clear,
    messages,
    settle,
    sign_up,
    sign_up_and_verify,
    token_of,
    unique_address,
    verify,
    wait_for_mail,
    wait_for_token,
)
from tests.support.timing import TIMING_ROUNDS, assert_within_factor, interleaved_medians

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-email")]
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase, long enough"
WRONG = "a wrong but long passphrase"
MAX_EMAILS = 3
MAX_FAILED_LOGINS = 3
# The headers that differ per request whatever the account (API Gateway's request id and
# the date); every other header must be the same, name and value.
PER_REQUEST_HEADERS = {"date", "apigw-requestid"}


@pytest.fixture(scope="module")
def api() -> Iterator[Client]:
    env = {
        "EMAIL_VERIFICATION": "required",
        "MAX_EMAILS_PER_HOUR": str(MAX_EMAILS),
        "MAX_FAILED_LOGINS": str(MAX_FAILED_LOGINS),
        "LOCKOUT_SECONDS": "300",
    }
    with running_local_api(env) as base_url:
        yield Client(base_url)


@pytest.fixture(scope="module")
def optional_api() -> Iterator[Client]:
    with running_local_api({"EMAIL_VERIFICATION": "optional"}) as base_url:
        yield Client(base_url)


def shape(reply: Reply) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Status, body and every header but the per-request ones: what must not differ."""
    headers = sorted(
        (name.lower(), value)
        for name, value in reply.headers.items()
        if name.lower() not in PER_REQUEST_HEADERS
    )
    return reply.status, reply.raw, headers


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def login(api: Client, email: str, password: str, delivery: str = "body") -> Reply:
    return api.call(
        "POST",
        "/auth/login",
        {"email": email, "password": password, "refresh_token_delivery": delivery},
    )


def me(api: Client, access_token: str) -> Reply:
    return api.call("GET", "/me", headers={"Authorization": f"Bearer {access_token}"})


def resend(api: Client, email: str) -> Reply:
    return api.call("POST", "/auth/verify-email/resend", {"email": email})


def forgot(api: Client, email: str) -> Reply:
    return api.call("POST", "/auth/password/forgot", {"email": email})


def reset(api: Client, token: str, password: str) -> Reply:
    return api.call("POST", "/auth/password/reset", {"token": token, "password": password})


def assert_error(reply: Reply, status: int, error: str) -> None:
    assert (reply.status, reply.json().get("error")) == (status, error), reply.raw


def assert_accepted(reply: Reply) -> None:
    assert (reply.status, reply.json()) == (202, {}), reply.raw


# -- signup ---------------------------------------------------------------------------


def test_signup_answers_a_new_and_a_taken_email_identically(api: Client) -> None:
    email = unique_address("same")
    new = sign_up(api, email, PASSWORD)
    assert new.json() == {"email": email}
    token = wait_for_token(api, email)
    assert verify(api, token).status == 200
    taken = sign_up(api, email.upper(), "another long passphrase here")
    assert shape(taken) == shape(new)
    assert new.cookies() == taken.cookies() == []


def test_a_taken_email_gets_the_notice_and_nothing_changes(api: Client) -> None:
    email = unique_address("notice")
    sign_up_and_verify(api, email, PASSWORD)
    sign_up(api, email, "someone else's long passphrase")
    first, notice = wait_for_mail(api, email, count=2)
    assert "verify your email" in first["subject"]
    assert first["tokens"]
    assert "someone tried to sign up" in notice["subject"]
    assert notice["tokens"] == []  # a notice, no link that does anything
    assert "reset your password" in notice["text"]
    assert login(api, email, PASSWORD).status == 200
    assert_error(login(api, email, "someone else's long passphrase"), 401, "invalid_credentials")


def test_a_new_email_gets_a_verification_link_to_the_local_page(api: Client) -> None:
    email = unique_address("link")
    sign_up(api, email, PASSWORD)
    (mail,) = wait_for_mail(api, email)
    token = token_of(mail)
    assert mail["to"] == email
    assert mail["links"] == [f"{api.origin}/demo/verify-email#token={token}"]
    assert "verify your email" in mail["subject"]


def test_a_second_signup_of_a_never_verified_email_replaces_its_password(api: Client) -> None:
    email = unique_address("replace")
    first_password, second_password = PASSWORD, "the second signup's passphrase"
    sign_up(api, email, first_password)
    old_link = wait_for_token(api, email)
    sign_up(api, email, second_password)
    new_link = wait_for_token(api, email, count=2)
    assert new_link != old_link
    assert_error(verify(api, old_link), 400, "invalid_token")
    verified = verify(api, new_link)
    assert verified.status == 200, verified.raw
    assert_error(login(api, email, first_password), 401, "invalid_credentials")
    assert login(api, email, second_password).status == 200


def test_signup_new_and_taken_take_about_the_same_time(api: Client) -> None:
    taken = unique_address("taken-timing")
    sign_up_and_verify(api, taken, PASSWORD)
    prefix = uuid.uuid4().hex[:8]
    medians = interleaved_medians(
        {
            "new": lambda i: sign_up(api, f"new-{prefix}-{i}@example.com", PASSWORD),
            "taken": lambda i: sign_up(api, taken, PASSWORD),
        }
    )
    assert_within_factor(medians)


# -- verification ---------------------------------------------------------------------


def test_verify_answers_200_once_then_400(api: Client) -> None:
    email = unique_address("verify")
    sign_up(api, email, PASSWORD)
    token = wait_for_token(api, email)
    first = verify(api, token)
    assert first.status == 200, first.raw
    body = first.json()
    assert set(body) == {"user_id", "email", "email_verified"}
    assert (body["email"], body["email_verified"]) == (email, True)
    assert first.cookies() == []
    assert_error(verify(api, token), 400, "invalid_token")


@pytest.mark.parametrize("token", ["", "x", "A" * 43, "not a token at all!", "A" * 600])
def test_a_malformed_or_unknown_link_is_400_invalid_token(api: Client, token: str) -> None:
    reply = verify(api, token)
    assert reply.status == 400, reply.raw
    assert reply.json()["error"] in {"invalid_token", "invalid_request"}
    assert_error(reset(api, token or "x", NEW_PASSWORD), 400, "invalid_token")


def test_a_superseded_link_is_400_and_the_newest_works(api: Client) -> None:
    email = unique_address("supersede")
    sign_up(api, email, PASSWORD)
    older = wait_for_token(api, email)
    assert_accepted(resend(api, email))
    newer = wait_for_token(api, email, count=2)
    assert_error(verify(api, older), 400, "invalid_token")
    assert verify(api, newer).status == 200


def test_resend_answers_202_alike_for_known_unknown_and_verified(api: Client) -> None:
    unverified, verified, unknown = (
        unique_address("pending"),
        unique_address("done"),
        unique_address("nobody"),
    )
    sign_up(api, unverified, PASSWORD)
    wait_for_mail(api, unverified)
    sign_up_and_verify(api, verified, PASSWORD)
    replies = [resend(api, email) for email in (unverified, unknown, verified)]
    for reply in replies:
        assert_accepted(reply)
    assert shape(replies[0]) == shape(replies[1]) == shape(replies[2])
    settle(api)
    assert len(messages(api, unverified)) == 2  # a new link
    assert len(messages(api, verified)) == 1  # only its first link: nothing to verify
    assert messages(api, unknown) == []


def test_login_needs_a_verified_email_but_says_so_only_after_the_right_password(
    api: Client,
) -> None:
    email = unique_address("unverified")
    sign_up(api, email, PASSWORD)
    refused = login(api, email, PASSWORD)
    assert_error(refused, 403, "email_not_verified")
    assert refused.cookies() == []
    assert "access_token" not in refused.json()
    assert_error(login(api, email, WRONG), 401, "invalid_credentials")
    unknown = login(api, unique_address("nobody"), WRONG)
    assert unknown.raw == login(api, email, WRONG).raw


def test_after_verification_login_me_and_the_token_say_verified(api: Client) -> None:
    email = unique_address("verified")
    verified = sign_up_and_verify(api, email, PASSWORD)
    reply = login(api, email, PASSWORD)
    assert reply.status == 200, reply.raw
    access = reply.json()["access_token"]
    claims = claims_of(access)
    assert (claims["sub"], claims["email"], claims["email_verified"]) == (
        verified["user_id"],
        email,
        True,
    )
    assert me(api, access).json() == {
        "user_id": verified["user_id"],
        "email": email,
        "email_verified": True,
        "roles": ["user"],
    }


def test_optional_mode_logs_in_unverified_and_a_refresh_after_verifying_says_true(
    optional_api: Client,
) -> None:
    api = optional_api
    email = unique_address("optional")
    sign_up(api, email, PASSWORD)
    reply = login(api, email, PASSWORD)
    assert reply.status == 200, reply.raw
    access, refresh_token = reply.json()["access_token"], reply.json()["refresh_token"]
    assert claims_of(access)["email_verified"] is False
    assert me(api, access).json()["email_verified"] is False
    # optional mode never replaces an account in use: a second signup is a taken email
    sign_up(api, email, "a stranger's long passphrase")
    token = wait_for_token(api, email)
    assert verify(api, token).status == 200
    refreshed = api.call("POST", "/auth/refresh", {"refresh_token": refresh_token})
    assert refreshed.status == 200, refreshed.raw
    new_access = refreshed.json()["access_token"]
    assert claims_of(new_access)["email_verified"] is True
    assert me(api, new_access).json()["email_verified"] is True
    assert login(api, email, PASSWORD).status == 200
    assert_error(login(api, email, "a stranger's long passphrase"), 401, "invalid_credentials")
    notice = wait_for_mail(api, email, count=2)[1]
    assert "someone tried to sign up" in notice["subject"]


# -- forgot and reset ------------------------------------------------------------------


def test_forgot_answers_202_alike_for_known_unknown_and_rate_limited(api: Client) -> None:
    known, limited, unknown = (
        unique_address("known"),
        unique_address("limited"),
        unique_address("stranger"),
    )
    sign_up_and_verify(api, known, PASSWORD)
    sign_up(api, limited, PASSWORD)
    for _ in range(MAX_EMAILS):  # its signup's link and these use up the hour
        assert_accepted(forgot(api, limited))
    settle(api)
    assert len(messages(api, limited)) == MAX_EMAILS
    replies = [forgot(api, email) for email in (known, unknown, limited)]
    for reply in replies:
        assert_accepted(reply)
    assert shape(replies[0]) == shape(replies[1]) == shape(replies[2])
    assert all(reply.cookies() == [] for reply in replies)
    settle(api)
    reset_mail = wait_for_mail(api, known, count=2)[1]
    assert "reset your password" in reset_mail["subject"]
    assert reset_mail["links"] == [f"{api.origin}/demo/reset-password#token={token_of(reset_mail)}"]
    assert messages(api, unknown) == []
    assert len(messages(api, limited)) == MAX_EMAILS


def test_forgot_known_unknown_and_rate_limited_take_about_the_same_time(api: Client) -> None:
    known = [unique_address("known-timing") for _ in range(5)]
    for email in known:  # each gets its link and then reset links up to the limit
        sign_up(api, email, PASSWORD)
    limited = unique_address("limited-timing")
    sign_up(api, limited, PASSWORD)
    for _ in range(MAX_EMAILS):
        forgot(api, limited)
    settle(api)
    prefix = uuid.uuid4().hex[:8]
    medians = interleaved_medians(
        {
            "known": lambda i: forgot(api, known[i % len(known)]),
            "unknown": lambda i: forgot(api, f"unknown-{prefix}-{i}@example.com"),
            "rate-limited": lambda i: forgot(api, limited),
        },
        rounds=3 * TIMING_ROUNDS,  # a few ms each: more rounds, steadier medians
    )
    assert_within_factor(medians)


@pytest.fixture
def locked_out_account(api: Client) -> dict[str, Any]:
    """A verified account with two sessions, then locked out by wrong passwords, and a
    reset link for it."""
    email = unique_address("reset")
    sign_up_and_verify(api, email, PASSWORD)
    refresh_tokens = []
    for _ in range(2):
        reply = login(api, email, PASSWORD)
        assert reply.status == 200, reply.raw
        refresh_tokens.append(reply.json()["refresh_token"])
    for _ in range(MAX_FAILED_LOGINS):
        assert_error(login(api, email, WRONG), 401, "invalid_credentials")
    assert_error(login(api, email, PASSWORD), 429, "too_many_attempts")
    assert_accepted(forgot(api, email))
    token = wait_for_token(api, email, count=2)
    return {"email": email, "refresh_tokens": refresh_tokens, "token": token}


def test_reset_sets_the_password_ends_sessions_and_the_lockout_and_logs_nobody_in(
    api: Client, locked_out_account: dict[str, Any]
) -> None:
    email, token = locked_out_account["email"], locked_out_account["token"]
    weak = reset(api, token, "short")
    assert_error(weak, 400, "weak_password")
    done = reset(api, token, NEW_PASSWORD)  # the weak attempt left the link usable
    assert done.status == 204, done.raw
    assert done.raw == b""
    assert done.cookies() == []
    assert "set-cookie" not in {name.lower() for name in done.headers}
    for refresh_token in locked_out_account["refresh_tokens"]:
        refused = api.call("POST", "/auth/refresh", {"refresh_token": refresh_token})
        assert_error(refused, 401, "invalid_token")
    assert_error(login(api, email, PASSWORD), 401, "invalid_credentials")
    assert login(api, email, NEW_PASSWORD).status == 200  # the lock-out ended
    notice = wait_for_mail(api, email, count=3)[2]
    assert "your password was changed" in notice["subject"]
    assert notice["tokens"] == []
    assert_error(reset(api, token, "yet another long passphrase"), 400, "invalid_token")
    assert login(api, email, NEW_PASSWORD).status == 200


def test_one_link_used_by_two_concurrent_resets_works_once(api: Client) -> None:
    email = unique_address("race")
    sign_up_and_verify(api, email, PASSWORD)
    forgot(api, email)
    token = wait_for_token(api, email, count=2)
    passwords = ["the first racer's passphrase", "the second racer's passphrase"]
    replies: list[Reply | None] = [None, None]
    start = threading.Barrier(2, timeout=30)

    def attempt(index: int) -> None:
        start.wait()
        replies[index] = reset(api, token, passwords[index])

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    done = [reply for reply in replies if reply is not None]
    assert len(done) == 2
    statuses = sorted(reply.status for reply in done)
    assert statuses == [204, 400], [reply.raw for reply in done]
    loser = next(reply for reply in done if reply.status == 400)
    assert loser.json()["error"] == "invalid_token"
    winner = passwords[replies.index(next(r for r in done if r.status == 204))]
    assert login(api, email, winner).status == 200
    loser_password = passwords[1 - passwords.index(winner)]
    assert_error(login(api, email, loser_password), 401, "invalid_credentials")


# -- the limit, the links, the mailbox, the pages ---------------------------------------


def test_beyond_the_hourly_limit_no_mail_and_no_usable_link_arrive(api: Client) -> None:
    email = unique_address("limit")
    sign_up(api, email, PASSWORD)
    wait_for_mail(api, email)
    replies = [resend(api, email) for _ in range(MAX_EMAILS + 2)]
    for reply in replies:
        assert_accepted(reply)
    assert len({tuple(shape(reply)[2]) for reply in replies}) == 1
    settle(api)
    sent = messages(api, email)
    assert len(sent) == MAX_EMAILS
    # The suppressed mails issued no link: the newest one that arrived is still the newest.
    assert verify(api, token_of(sent[-1])).status == 200
    assert_accepted(forgot(api, email))
    settle(api)
    assert len(messages(api, email)) == MAX_EMAILS


def test_links_carry_the_token_in_the_fragment_never_in_a_query(api: Client) -> None:
    email = unique_address("fragment")
    sign_up_and_verify(api, email, PASSWORD)
    forgot(api, email)
    wait_for_mail(api, email, count=2)
    every = messages(api)
    with_links = [m for m in every if m["tokens"]]
    assert {urllib.parse.urlsplit(m["links"][0]).path for m in with_links} >= {
        "/demo/verify-email",
        "/demo/reset-password",
    }
    for mail in every:
        assert "?token=" not in mail["text"], mail
        for link in mail["links"]:
            parts = urllib.parse.urlsplit(link)
            assert "token" not in urllib.parse.parse_qs(parts.query), link
        for token in mail["tokens"]:
            assert f"#token={token}" in mail["text"], mail


def test_the_mailbox_filter_normalises_the_address(api: Client) -> None:
    local = f"norm-{uuid.uuid4().hex[:8]}"
    sign_up(api, f"{local}@example.com", PASSWORD)
    wanted = wait_for_mail(api, f"{local}@example.com")
    assert messages(api, f"{local.upper()}@Example.COM") == wanted
    assert messages(api, f"  {local}@EXAMPLE.com ") == wanted
    assert messages(api, f"other-{local}@example.com") == []


def test_delete_empties_the_mailbox(api: Client) -> None:
    settle(api)
    assert messages(api)
    clear(api)
    assert messages(api) == []
    email = unique_address("after-clear")
    sign_up(api, email, PASSWORD)
    assert len(wait_for_mail(api, email)) == 1


@pytest.mark.parametrize("page", ["verify-email", "reset-password"])
def test_the_local_pages_send_no_referrer(api: Client, page: str) -> None:
    reply = api.send("GET", f"/_localapi/{page}")
    assert reply.status == 200, reply.raw
    assert reply.headers["Referrer-Policy"] == "no-referrer"
    assert reply.headers["Content-Type"].startswith("text/html")
    assert b"location.hash" in reply.raw  # reads the token from the fragment


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/verify-email", {"token": "x"}),
        ("/auth/verify-email/resend", {"email": "ann@example.com"}),
        ("/auth/password/forgot", {"email": "ann@example.com"}),
        ("/auth/password/reset", {"token": "x", "password": NEW_PASSWORD}),
    ],
)
def test_the_new_routes_refuse_cross_site_calls_and_other_content_types(
    api: Client, path: str, body: dict[str, str]
) -> None:
    evil = api.call("POST", path, body, {"Origin": "https://evil.example"})
    assert_error(evil, 403, "cross_site_request")
    plain = api.send("POST", path, json.dumps(body).encode(), {"Content-Type": "text/plain"})
    assert_error(plain, 415, "unsupported_media_type")
    missing = api.call("POST", path, {})
    assert_error(missing, 400, "invalid_request")


def test_a_mail_to_an_idna_domain_is_addressed_in_punycode(api: Client) -> None:
    local = f"idna-{uuid.uuid4().hex[:8]}"
    sign_up(api, f"{local}@exämple.com", PASSWORD)
    (mail,) = wait_for_mail(api, f"{local}@xn--exmple-cua.com")
    # SES takes 7-bit addresses: the domain in Punycode (RFC 3492)
    assert mail["to"] == f"{local}@xn--exmple-cua.com"
