"""What only the DynamoDB repositories have, on moto with tables from template.yaml.

Their behaviour under the Protocols (unique emails, reads after writes, rotation,
revocation) is the contract suite's, run against them and the fakes alike:
tests/contract/.
"""

from __future__ import annotations

from typing import Any

import pytest

from stateless_auth.domain.accounts import User
from stateless_auth.domain.sessions import SessionInfo, TokenRecord, TokenState
from stateless_auth.storage.sessions import SessionRepository
from stateless_auth.storage.users import UserRepository

NOW = 1_700_000_000


def test_tables_come_from_the_template(dynamodb: Any, tables: dict[str, str]) -> None:
    assert set(tables) >= {"UsersTable", "SessionsTable"}
    for name in tables.values():
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl["AttributeName"] == "ttl"
        assert ttl["TimeToLiveStatus"] == "ENABLED"


ANN = "ann@example.com"


def record(token_hash: str = "h1", session_id: str = "s1") -> TokenRecord:
    return TokenRecord(token_hash, session_id, "u1", ANN, ("user",), TokenState.CURRENT, NOW + 60)


def listing(session_id: str, now: int = NOW) -> SessionInfo:
    return SessionInfo(session_id, now, now, NOW + 60, "curl/8.5.0", "203.0.113.7")


@pytest.fixture
def repositories(dynamodb: Any, tables: dict[str, str]) -> tuple[UserRepository, SessionRepository]:
    users = UserRepository(dynamodb, tables["UsersTable"])
    users.create(User("u1", ANN, "$argon2id$x", 1))
    sessions = SessionRepository(
        dynamodb, tables["SessionsTable"], users_table=tables["UsersTable"]
    )
    return users, sessions


def open_session(
    users: UserRepository, sessions: SessionRepository, token: TokenRecord, now: int = NOW
) -> None:
    account = users.get_by_email(ANN)
    assert account is not None
    sessions.create(token, now=now, account=account, session=listing(token.session_id, now))


def test_is_revoked_answers_for_revoked_and_unknown_sessions(
    dynamodb: Any, tables: dict[str, str], repositories: tuple[UserRepository, SessionRepository]
) -> None:
    users, sessions = repositories
    open_session(users, sessions, record())
    assert not sessions.is_revoked("s1")
    sessions.revoke(record(), now=NOW)
    assert sessions.is_revoked("s1")
    sessions.revoke(record("h9", "nope"), now=NOW)  # quiet, and writes no item
    assert sessions.is_revoked("nope")
    assert "Item" not in dynamodb.get_item(
        TableName=tables["SessionsTable"], Key={"pk": {"S": "SESSION#nope"}}
    )


def account_item(dynamodb: Any, tables: dict[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = dynamodb.get_item(
        TableName=tables["UsersTable"], Key={"pk": {"S": f"EMAIL#{ANN}"}}, ConsistentRead=True
    )["Item"]
    return item


def test_the_account_item_lists_its_sessions_as_a_map(
    dynamodb: Any, tables: dict[str, str], repositories: tuple[UserRepository, SessionRepository]
) -> None:
    users, sessions = repositories
    assert account_item(dynamodb, tables)["sessions"] == {"M": {}}  # from signup on
    open_session(users, sessions, record())
    assert account_item(dynamodb, tables)["sessions"] == {
        "M": {
            "s1": {
                "M": {
                    "created_at": {"N": str(NOW)},
                    "last_used_at": {"N": str(NOW)},
                    "expires_at": {"N": str(NOW + 60)},
                    "user_agent": {"S": "curl/8.5.0"},
                    "ip": {"S": "203.0.113.7"},
                }
            }
        }
    }


def test_logout_all_is_one_write_whatever_the_number_of_sessions(
    dynamodb: Any, tables: dict[str, str], repositories: tuple[UserRepository, SessionRepository]
) -> None:
    users, sessions = repositories
    for i in range(30):
        open_session(users, sessions, record(f"h{i}", f"s{i}"))
    calls: list[str] = []
    dynamodb.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    assert sessions.end_all_sessions(ANN, "u1")
    assert calls == ["UpdateItem"]
    assert account_item(dynamodb, tables)["sessions"] == {"M": {}}
    assert sessions.end_all_sessions(ANN, "u2") is False  # another account's id


def test_ending_one_session_is_one_transaction(
    dynamodb: Any, tables: dict[str, str], repositories: tuple[UserRepository, SessionRepository]
) -> None:
    users, sessions = repositories
    open_session(users, sessions, record())
    calls: list[str] = []
    dynamodb.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    assert sessions.end_session(ANN, "u1", "s1", now=NOW)
    assert calls == ["TransactWriteItems"]
    assert sessions.is_revoked("s1")
    assert account_item(dynamodb, tables)["sessions"] == {"M": {}}


def test_revoking_when_the_account_is_gone_revokes_the_session_alone_and_makes_no_item(
    dynamodb: Any, tables: dict[str, str], repositories: tuple[UserRepository, SessionRepository]
) -> None:
    """The unlisting's condition (`user_id = :uid`) never creates an account item, which
    would block a signup of the email."""
    users, sessions = repositories
    open_session(users, sessions, record())
    account = users.get_by_email(ANN)
    assert account is not None
    users.delete_account(account)
    sessions.revoke(record(), now=NOW)
    assert sessions.is_revoked("s1")
    assert "Item" not in dynamodb.get_item(
        TableName=tables["UsersTable"], Key={"pk": {"S": f"EMAIL#{ANN}"}}
    )
