"""Attacker review of the sessions and account routes (issue 11): the protections that
hold, driven through the handlers on moto (hostile path parameters and bodies, another
user's session id, a token that outlived its account) and through the DynamoDB
repositories (the account item at the session cap, the document paths of crafted ids).

Only protections that hold are here; what does not hold is in the review's report.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from stateless_auth.domain.accounts import User
from stateless_auth.domain.sessions import (
    MAX_SESSIONS_PER_ACCOUNT,
    USER_AGENT_MAX_LENGTH,
    SessionInfo,
    TokenRecord,
    TokenState,
)
from stateless_auth.storage.sessions import SessionRepository
from stateless_auth.storage.users import UserRepository
from tests.support.events import body, error_of, with_json_body
from tests.support.handlers import Stack, stack_in_moto

pytestmark = pytest.mark.xdist_group("session_review")

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new and long passphrase"
WRONG = "certainly not the password"
FUNCTIONS = (
    "signup",
    "verify_email",
    "login",
    "refresh",
    "logout",
    "authorizer",
    "mailer",
    "sessions",
    "account",
)

# Path parameters that are no session id: document-path and expression syntax, sizes and
# encodings an attacker might send to DELETE /auth/sessions/{session_id}.
HOSTILE_IDS = (
    "",
    "x" * 10_000,
    "sessions",
    "a.b",
    "a[0]",
    "#sid",
    ":uid",
    "sessions.#sid",
    "../../me",
    "%2e%2e%2F",
    "\u00e9" * 2048,
    "\x00",
    "' OR 1=1 --",
)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with stack_in_moto(FUNCTIONS) as stack:
        yield stack


def account(stack: Stack, email: str) -> str:
    stack.sign_up_verified(email, PASSWORD)
    return email


def sid(stack: Stack, tokens: dict[str, Any]) -> str:
    return str(stack.authorizer_context(tokens["access_token"])["sid"])


def refresh(stack: Stack, tokens: dict[str, Any]) -> dict[str, Any]:
    event = with_json_body("refresh_body.json", {"refresh_token": tokens["refresh_token"]})
    return stack.invoke("refresh", event)


def end(stack: Stack, access_token: str, session_id: str) -> dict[str, Any]:
    return stack.call("sessions", "sessions_delete.json", access_token, session_id=session_id)


def account_item(stack: Stack, email: str) -> dict[str, Any] | None:
    reply = stack.dynamodb.get_item(
        TableName=stack.tables["UsersTable"],
        Key={"pk": {"S": f"EMAIL#{email}"}},
        ConsistentRead=True,
    )
    item: dict[str, Any] | None = reply.get("Item")
    return item


def comparable(reply: dict[str, Any]) -> tuple[Any, ...]:
    """Everything a caller sees of a reply."""
    return (
        reply["statusCode"],
        reply.get("body"),
        sorted((reply.get("headers") or {}).items()),
        reply.get("cookies"),
        reply.get("isBase64Encoded"),
    )


# --- ending sessions: ids the caller does not own -------------------------------------------


def test_another_users_session_id_answers_as_an_unknown_or_hostile_one(stack: Stack) -> None:
    """Mallory sends the victim's real session id, a random UUID and ids crafted to break
    a DynamoDB document path or expression: every answer is the same 404 (status, body,
    headers, cookies), none is a 5xx, and the victim's session lives on."""
    victim = stack.log_in(account(stack, "review-victim@example.com"), PASSWORD)
    mallory = stack.log_in(account(stack, "review-mallory@example.com"), PASSWORD)
    expected = comparable(end(stack, mallory["access_token"], sid(stack, victim)))
    assert error_of(end(stack, mallory["access_token"], sid(stack, victim))) == (404, "not_found")
    for session_id in (str(uuid.uuid4()), *HOSTILE_IDS):
        assert comparable(end(stack, mallory["access_token"], session_id)) == expected, session_id
    assert refresh(stack, victim)["statusCode"] == 200


def test_the_owners_id_in_another_spelling_ends_nothing(stack: Stack) -> None:
    """Only the exact server-made id ends a session: upper case, braces, a trailing
    newline or a URN prefix answer 404 and the session still refreshes."""
    tokens = stack.log_in(account(stack, "review-spelling@example.com"), PASSWORD)
    own = sid(stack, tokens)
    for spelling in (
        own.upper(),
        f"{{{own}}}",
        own + "\n",
        f"urn:uuid:{own}",
        own.replace("-", ""),
    ):
        assert error_of(end(stack, tokens["access_token"], spelling)) == (404, "not_found")
    assert refresh(stack, tokens)["statusCode"] == 200
    assert end(stack, tokens["access_token"], own)["statusCode"] == 204


def test_bodies_on_the_sessions_routes_never_answer_5xx(stack: Stack) -> None:
    """DELETE /auth/sessions/{id} and POST /auth/logout-all take no body: a JSON one, a
    non-JSON one or an oversized one is refused or ignored, never a server error, and
    (for another user's id) ends nothing."""
    victim = stack.log_in(account(stack, "review-bodies-victim@example.com"), PASSWORD)
    mallory = stack.log_in(account(stack, "review-bodies-mallory@example.com"), PASSWORD)
    target = sid(stack, victim)
    bodies: list[tuple[str, str]] = [
        ("application/json", json.dumps({"session_id": target, "user_id": "x"})),
        ("application/json", "{not json"),
        ("text/plain", "hello"),
        ("application/json", json.dumps({"pad": "x" * 20_000})),
    ]
    for content_type, text in bodies:
        event = stack.authorized("sessions_delete.json", mallory["access_token"], session_id=target)
        event["headers"] = {**event["headers"], "content-type": content_type}
        event["body"], event["isBase64Encoded"] = text, False
        reply = stack.invoke("sessions", event)
        assert 400 <= reply["statusCode"] < 500, reply
    assert refresh(stack, victim)["statusCode"] == 200


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "[]",
        '"password"',
        "null",
        json.dumps({"password": 12345}),
        json.dumps({"password": None}),
        json.dumps({"pass": PASSWORD}),
        json.dumps({"password": "x" * 20_000}),
        "{" * 5000,
    ],
)
def test_delete_me_with_a_hostile_body_answers_4xx_and_keeps_the_account(
    stack: Stack, text: str | None
) -> None:
    email = "review-delete-body@example.com"
    if account_item(stack, email) is None:
        account(stack, email)
    tokens = stack.log_in(email, PASSWORD)
    event = stack.authorized("account_delete.json", tokens["access_token"])
    event["body"], event["isBase64Encoded"] = text, False
    reply = stack.invoke("account", event)
    assert 400 <= reply["statusCode"] < 500, reply
    assert not reply.get("cookies"), "a refused deletion clears no cookie"
    assert account_item(stack, email) is not None
    # The refusals above checked no password (none was given): the email is not locked.
    assert refresh(stack, tokens)["statusCode"] == 200


# --- a deleted account: its tokens recreate nothing ---------------------------------------------


def test_tokens_of_a_deleted_account_recreate_no_item_and_block_no_signup(stack: Stack) -> None:
    """After DELETE /me, every route called with the old access token or the old
    refresh token is refused or does nothing, and no conditional Update turns into an
    upsert: the account item stays absent and the email signs up at once."""
    email = account(stack, "review-deleted@example.com")
    phone, laptop = stack.log_in(email, PASSWORD), stack.log_in(email, PASSWORD)
    reply = stack.call(
        "account", "account_delete.json", laptop["access_token"], payload={"password": PASSWORD}
    )
    assert reply["statusCode"] == 204
    assert reply["cookies"] == [
        "__Host-refresh_token=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0"
    ]
    assert account_item(stack, email) is None
    old = phone["access_token"]
    assert body(stack.call("sessions", "sessions_list.json", old)) == {"sessions": []}
    assert error_of(end(stack, old, sid(stack, phone))) == (404, "not_found")
    assert stack.call("sessions", "logout_all.json", old)["statusCode"] == 204
    assert error_of(refresh(stack, phone)) == (401, "invalid_token")
    event = with_json_body("logout_cookie.json", {"refresh_token": laptop["refresh_token"]})
    event["cookies"] = []
    assert stack.invoke("logout", event)["statusCode"] == 204
    for payload, route in (
        ({"current_password": PASSWORD, "new_password": NEW_PASSWORD}, "password_change.json"),
        ({"password": PASSWORD}, "account_delete.json"),
    ):
        assert error_of(stack.call("account", route, old, payload=payload)) == (
            401,
            "invalid_credentials",
        )
    assert account_item(stack, email) is None, "an Update recreated the deleted account"
    stack.sign_up_verified(email, PASSWORD)
    again = stack.log_in(email, PASSWORD)
    assert [
        s["session_id"]
        for s in body(stack.call("sessions", "sessions_list.json", again["access_token"]))[
            "sessions"
        ]
    ] == [sid(stack, again)]
    # The old session id is still no session of the new account's.
    assert error_of(end(stack, again["access_token"], sid(stack, phone))) == (404, "not_found")


def test_a_body_on_logout_all_still_ends_every_session_and_clears_the_cookie(stack: Stack) -> None:
    email = account(stack, "review-logout-all@example.com")
    phone, laptop = stack.log_in(email, PASSWORD), stack.log_in(email, PASSWORD)
    event = stack.authorized(
        "logout_all.json", laptop["access_token"], payload={"keep": sid(stack, laptop)}
    )
    event["headers"] = {**event["headers"], "content-type": "application/json"}
    reply = stack.invoke("sessions", event)
    assert reply["statusCode"] == 204
    assert reply["cookies"] == [
        "__Host-refresh_token=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0"
    ]
    for tokens in (phone, laptop):
        assert error_of(refresh(stack, tokens)) == (401, "invalid_token")


# --- the account item at the session cap ------------------------------------------------------

NOW = 1_700_000_000
TTL = 7_776_000


def _item_size(value: Any) -> int:
    """An upper bound of DynamoDB's item size (names and values as UTF-8, numbers as up
    to 21 bytes, 3 bytes of overhead per map or list and per element)."""
    if isinstance(value, dict) and len(value) == 1:
        ((kind, inner),) = value.items()
        if kind == "S":
            return len(inner.encode())
        if kind == "N":
            return 21
        if kind == "BOOL":
            return 1
        if kind == "L":
            return 3 + sum(1 + _item_size(v) for v in inner)
        if kind == "M":
            return 3 + sum(len(k.encode()) + 1 + _item_size(v) for k, v in inner.items())
    assert isinstance(value, dict)
    return sum(len(k.encode()) + _item_size(v) for k, v in value.items())


def test_a_user_with_many_logins_keeps_the_account_item_far_below_400_kb(stack: Stack) -> None:
    """Logins with the widest agent (256 characters of 4 bytes each) and the longest IP
    form: the list never holds more than MAX_SESSIONS_PER_ACCOUNT, the least recently
    used go first, the one in use is kept, and the item stays far below DynamoDB's
    400 KB (so no login or refresh of one's own account can hit the limit)."""
    client, tables = stack.dynamodb, stack.tables
    users_table = tables["UsersTable"]
    users = UserRepository(client, users_table)
    sessions = SessionRepository(client, tables["SessionsTable"], users_table=users_table)
    email = "cap@example.com"
    users.create(User("u-cap", email, "$argon2id$cap", NOW, email_verified=True))
    agent = "\U0001f600" * (USER_AGENT_MAX_LENGTH + 50)
    ip = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
    first: TokenRecord | None = None
    for n in range(MAX_SESSIONS_PER_ACCOUNT + 20):
        now = NOW + n
        session_id = str(uuid.uuid4())
        record = TokenRecord(
            token_hash=f"h{n}",
            session_id=session_id,
            user_id="u-cap",
            email=email,
            roles=("user",),
            state=TokenState.CURRENT,
            session_expires_at=now + TTL,
            email_verified=True,
        )
        read = users.get_by_email(email)
        assert read is not None
        info = SessionInfo(session_id, now, now, now + TTL, agent[:USER_AGENT_MAX_LENGTH], ip)
        sessions.create(record, now=now, account=read, session=info)
        if first is None:
            first = record
        elif n % 10 == 0:  # the first session is in use: it is never the one evicted
            first = sessions.rotate(first, f"h{n}-rotated", now=now)
    item = account_item_of(client, users_table, email)
    listed = item["sessions"]["M"]
    assert len(listed) == MAX_SESSIONS_PER_ACCOUNT
    assert first is not None
    assert first.session_id in listed
    size = _item_size(item)
    assert size < 150_000, size  # the 400 KB limit is far


def account_item_of(client: Any, table: str, email: str) -> dict[str, Any]:
    item: dict[str, Any] = client.get_item(
        TableName=table, Key={"pk": {"S": f"EMAIL#{email}"}}, ConsistentRead=True
    )["Item"]
    return item
