"""Failed-login counters on moto: what only the DynamoDB items show (their TTL).

Reservations, restarts after a lock, refusals and clearing are the contract suite's, run
against the repository and the fakes alike: tests/contract/test_user_store.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from stateless_auth.domain.lockout import FailedLogins
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


def test_each_counted_attempt_extends_the_ttl_and_a_refused_one_leaves_it(
    users: UserRepository, dynamodb: Any, tables: dict[str, str]
) -> None:
    def ttl() -> Any:
        key = {"pk": {"S": failures_key("ann@example.com")}}
        return dynamodb.get_item(TableName=tables["UsersTable"], Key=key)["Item"]["ttl"]

    for now in (1, 2, 3):
        assert reserve(users, FailedLogins(), now)[0]
        assert ttl() == {"N": str(now + 300)}
    assert not reserve(users, FailedLogins(), 30)[0]
    assert ttl() == {"N": "303"}
