"""Failed-login counters on moto: attempts reserved by conditional writes, restart after a
lock, TTL, reset."""

from __future__ import annotations

from typing import Any

import pytest

from stateless_auth.domain.lockout import FailedLogins
from stateless_auth.domain.sessions import TokenRecord
from stateless_auth.storage.sessions import SessionRepository
from stateless_auth.storage.users import UserRepository, failures_key

MAX = 3
LOCKOUT = 60


@pytest.fixture
def users(dynamodb: Any, tables: dict[str, str]) -> UserRepository:
    return UserRepository(dynamodb, tables["UsersTable"])


def reserve(
    users: UserRepository, seen: FailedLogins, now: int, email: str = "ann@example.com"
) -> tuple[bool, FailedLogins]:
    return users.reserve_login_attempt(
        email, seen, now=now, max_failures=MAX, lockout_seconds=LOCKOUT, keep_for=300
    )


def test_attempts_that_read_the_same_state_cannot_pass_the_limit(users: UserRepository) -> None:
    """Every attempt reads the count 2 (one left) before any writes: only one gets through.

    Issue 8 finding 1: the old code checked the password between its read and its write,
    so all of them were checked.
    """
    for now in (1, 2):
        assert reserve(users, users.load_for_login("ann@example.com")[1], now)[0]
    seen = [users.load_for_login("ann@example.com")[1] for _ in range(5)]
    assert all(s.count == MAX - 1 for s in seen)
    outcomes = [reserve(users, s, 10) for s in seen]
    assert [ok for ok, _ in outcomes] == [True, False, False, False, False]
    assert outcomes[0][1] == FailedLogins(MAX, 10)
    # The refused ones get the record that refused them, for Retry-After.
    assert all(
        state.locked_for(10, max_failures=MAX, lockout_seconds=LOCKOUT) == LOCKOUT
        for _, state in outcomes[1:]
    )
    assert users.load_for_login("ann@example.com")[1] == FailedLogins(MAX, 10)


def test_unknown_emails_count_and_expire_by_ttl(
    users: UserRepository, dynamodb: Any, tables: dict[str, str]
) -> None:
    assert reserve(users, FailedLogins(), 100, "ghost@example.com") == (True, FailedLogins(1, 100))
    item = dynamodb.get_item(
        TableName=tables["UsersTable"], Key={"pk": {"S": failures_key("ghost@example.com")}}
    )["Item"]
    assert item["ttl"] == {"N": "400"}
    user, failures = users.load_for_login("ghost@example.com")
    assert user is None
    assert failures.count == 1


def test_locked_attempts_write_nothing(users: UserRepository) -> None:
    for now in (1, 2, 3):
        reserve(users, FailedLogins(), now)
    assert reserve(users, FailedLogins(), 30) == (False, FailedLogins(MAX, 3))
    assert users.load_for_login("ann@example.com")[1] == FailedLogins(MAX, 3)


def test_restart_after_a_lock_counts_from_one_once(users: UserRepository) -> None:
    for now in (1, 2, 3):
        reserve(users, FailedLogins(), now)
    _, seen_a = users.load_for_login("ann@example.com")
    _, seen_b = users.load_for_login("ann@example.com")
    later = 3 + LOCKOUT
    assert reserve(users, seen_a, later) == (True, FailedLogins(1, later))
    # The second restart lost the race; it counts on top instead.
    assert reserve(users, seen_b, later) == (True, FailedLogins(2, later))


def test_a_stale_read_of_an_ended_lock_still_restarts(users: UserRepository) -> None:
    for now in (1, 2, 3):
        reserve(users, FailedLogins(), now)
    later = 3 + LOCKOUT
    assert reserve(users, FailedLogins(), later) == (True, FailedLogins(1, later))


def test_clear_resets(users: UserRepository) -> None:
    reserve(users, FailedLogins(), 1)
    users.clear_failed_logins("ann@example.com")
    assert users.load_for_login("ann@example.com")[1] == FailedLogins()


def test_opening_a_session_clears_the_count_in_the_same_transaction(
    users: UserRepository, dynamodb: Any, tables: dict[str, str]
) -> None:
    sessions = SessionRepository(
        dynamodb, tables["SessionsTable"], users_table=tables["UsersTable"]
    )
    reserve(users, FailedLogins(), 1)
    record = TokenRecord(
        token_hash="h" * 64,
        session_id="s1",
        user_id="u1",
        email="ann@example.com",
        roles=("user",),
        state="current",
        session_expires_at=1000,
    )
    sessions.create(record, now=5, clear_failures_of="ann@example.com")
    assert users.load_for_login("ann@example.com")[1] == FailedLogins()
    assert sessions.find_token("h" * 64) == record
