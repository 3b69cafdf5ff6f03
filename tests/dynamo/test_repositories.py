"""Users and sessions repositories against moto, tables from template.yaml."""

from __future__ import annotations

import time
from typing import Any

import pytest

from stateless_auth.domain.accounts import User
from stateless_auth.domain.errors import EmailTaken
from stateless_auth.domain.sessions import RotationConflict, TokenRecord, TokenState
from stateless_auth.storage.sessions import SessionRepository
from stateless_auth.storage.users import UserRepository


def user(email: str = "ann@example.com") -> User:
    return User(user_id="u1", email=email, password_hash="$argon2id$x", created_at=1)


def record(token_hash: str = "h1", expires_in: int = 3600) -> TokenRecord:
    return TokenRecord(
        token_hash=token_hash,
        session_id="s1",
        user_id="u1",
        email="ann@example.com",
        roles=("user",),
        state=TokenState.CURRENT,
        session_expires_at=int(time.time()) + expires_in,
    )


@pytest.fixture
def users(dynamodb: Any, tables: dict[str, str]) -> UserRepository:
    return UserRepository(dynamodb, tables["UsersTable"])


@pytest.fixture
def sessions(dynamodb: Any, tables: dict[str, str]) -> SessionRepository:
    return SessionRepository(dynamodb, tables["SessionsTable"])


def test_tables_come_from_the_template(dynamodb: Any, tables: dict[str, str]) -> None:
    assert set(tables) >= {"UsersTable", "SessionsTable"}
    for name in tables.values():
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl["AttributeName"] == "ttl"
        assert ttl["TimeToLiveStatus"] == "ENABLED"


def test_user_round_trip_and_unique_email(users: UserRepository) -> None:
    users.create(user())
    assert users.get_by_email("ann@example.com") == user()
    with pytest.raises(EmailTaken):
        users.create(User(user_id="u2", email="ann@example.com", password_hash="h", created_at=2))
    assert users.get_by_email("ann@example.com").user_id == "u1"  # type: ignore[union-attr]
    assert users.get_by_email("bob@example.com") is None


def test_password_hash_update(users: UserRepository) -> None:
    users.create(user())
    users.update_password_hash("ann@example.com", "$argon2id$new")
    assert users.get_by_email("ann@example.com").password_hash == "$argon2id$new"  # type: ignore[union-attr]


def test_session_create_find_rotate(sessions: SessionRepository) -> None:
    now = int(time.time())
    sessions.create(record(), now=now)
    found = sessions.find_token("h1")
    assert found == record().__class__(
        **{**record().__dict__, "session_expires_at": found.session_expires_at}
    )  # type: ignore[union-attr]
    new = sessions.rotate(found, "h2", now=now)  # type: ignore[arg-type]
    assert new.state == TokenState.CURRENT
    assert new.session_expires_at == found.session_expires_at  # type: ignore[union-attr]
    assert sessions.find_token("h1").state == TokenState.USED  # type: ignore[union-attr]
    assert sessions.find_token("h2").state == TokenState.CURRENT  # type: ignore[union-attr]


def test_interleaved_rotations_have_exactly_one_winner(sessions: SessionRepository) -> None:
    """A reads, B reads, A writes, B writes: DynamoDB's conditions refuse B."""
    now = int(time.time())
    sessions.create(record(), now=now)
    read_a = sessions.find_token("h1")
    read_b = sessions.find_token("h1")
    sessions.rotate(read_a, "h-a", now=now)  # type: ignore[arg-type]
    with pytest.raises(RotationConflict):
        sessions.rotate(read_b, "h-b", now=now)  # type: ignore[arg-type]
    assert sessions.find_token("h-b") is None
    assert sessions.find_token("h-a").state == TokenState.CURRENT  # type: ignore[union-attr]


def test_rotation_refused_after_expiry_even_if_the_item_still_exists(
    sessions: SessionRepository,
) -> None:
    now = int(time.time())
    sessions.create(record(expires_in=10), now=now)
    found = sessions.find_token("h1")
    assert found is not None  # TTL has not deleted it
    with pytest.raises(RotationConflict):
        sessions.rotate(found, "h2", now=now + 10)


def test_revoked_session_refuses_rotation_of_its_newest_token(sessions: SessionRepository) -> None:
    now = int(time.time())
    sessions.create(record(), now=now)
    newest = sessions.rotate(sessions.find_token("h1"), "h2", now=now)  # type: ignore[arg-type]
    sessions.revoke("s1", now=now)
    assert sessions.is_revoked("s1")
    with pytest.raises(RotationConflict):
        sessions.rotate(newest, "h3", now=now)


def test_revoking_an_unknown_session_is_quiet(sessions: SessionRepository) -> None:
    sessions.revoke("nope", now=1)
    assert sessions.is_revoked("nope")
