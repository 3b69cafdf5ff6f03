"""What only the DynamoDB repositories have, on moto with tables from template.yaml.

Their behaviour under the Protocols (unique emails, reads after writes, rotation,
revocation) is the contract suite's, run against them and the fakes alike:
tests/contract/.
"""

from __future__ import annotations

from typing import Any

from stateless_auth.domain.sessions import TokenRecord, TokenState
from stateless_auth.storage.sessions import SessionRepository

NOW = 1_700_000_000


def test_tables_come_from_the_template(dynamodb: Any, tables: dict[str, str]) -> None:
    assert set(tables) >= {"UsersTable", "SessionsTable"}
    for name in tables.values():
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl["AttributeName"] == "ttl"
        assert ttl["TimeToLiveStatus"] == "ENABLED"


def test_is_revoked_answers_for_revoked_and_unknown_sessions(
    dynamodb: Any, tables: dict[str, str]
) -> None:
    sessions = SessionRepository(dynamodb, tables["SessionsTable"])
    record = TokenRecord(
        "h1", "s1", "u1", "ann@example.com", ("user",), TokenState.CURRENT, NOW + 60
    )
    sessions.create(record, now=NOW)
    assert not sessions.is_revoked("s1")
    sessions.revoke("s1", now=NOW)
    assert sessions.is_revoked("s1")
    sessions.revoke("nope", now=NOW)  # quiet, and writes no item
    assert sessions.is_revoked("nope")
    assert "Item" not in dynamodb.get_item(
        TableName=tables["SessionsTable"], Key={"pk": {"S": "SESSION#nope"}}
    )
