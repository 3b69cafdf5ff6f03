"""Failed-login counters on moto: atomic counts, restart after a lock, TTL, reset."""

from __future__ import annotations

from typing import Any

import pytest

from stateless_auth.users import FailedLogins, UserRepository, failures_key


@pytest.fixture
def users(dynamodb: Any, tables: dict[str, str]) -> UserRepository:
    return UserRepository(dynamodb, tables["UsersTable"])


def test_concurrent_failures_that_read_the_same_state_are_all_counted(
    users: UserRepository,
) -> None:
    """A reads, B reads, A counts, B counts: ADD is atomic, so both failures count."""
    _, seen_a = users.load_for_login("ann@example.com")
    _, seen_b = users.load_for_login("ann@example.com")
    users.record_failed_login("ann@example.com", seen_a, now=100, restart=False, keep_for=300)
    counted = users.record_failed_login(
        "ann@example.com", seen_b, now=101, restart=False, keep_for=300
    )
    assert counted.count == 2
    assert users.load_for_login("ann@example.com")[1] == FailedLogins(2, 101)


def test_unknown_emails_expire_by_ttl(
    users: UserRepository, dynamodb: Any, tables: dict[str, str]
) -> None:
    users.record_failed_login(
        "ghost@example.com", FailedLogins(), now=100, restart=False, keep_for=300
    )
    item = dynamodb.get_item(
        TableName=tables["UsersTable"], Key={"pk": {"S": failures_key("ghost@example.com")}}
    )["Item"]
    assert item["ttl"] == {"N": "400"}
    user, failures = users.load_for_login("ghost@example.com")
    assert user is None
    assert failures.count == 1


def test_restart_after_a_lock_counts_from_one_once(users: UserRepository) -> None:
    for now in (1, 2, 3):
        users.record_failed_login(
            "ann@example.com", FailedLogins(), now=now, restart=False, keep_for=300
        )
    _, seen_a = users.load_for_login("ann@example.com")
    _, seen_b = users.load_for_login("ann@example.com")
    first = users.record_failed_login(
        "ann@example.com", seen_a, now=100, restart=True, keep_for=300
    )
    second = users.record_failed_login(
        "ann@example.com", seen_b, now=100, restart=True, keep_for=300
    )
    assert first.count == 1
    assert second.count == 2  # the second restart lost the race and counted on top


def test_clear_resets(users: UserRepository) -> None:
    users.record_failed_login("ann@example.com", FailedLogins(), now=1, restart=False, keep_for=300)
    users.clear_failed_logins("ann@example.com")
    assert users.load_for_login("ann@example.com")[1] == FailedLogins()
