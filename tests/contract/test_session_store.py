"""SessionStore's contract: sessions opened with their first refresh token, tokens found by
hash, rotation as one conditional write, revocation.

Run against the fakes and the DynamoDB repository alike (see conftest).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stateless_auth.domain.accounts import User
from stateless_auth.domain.lockout import FailedLogins
from stateless_auth.domain.ports import SessionStore, UserStore
from stateless_auth.domain.sessions import RotationConflict, TokenRecord, TokenState
from tests.contract.implementations import Stores
from tests.contract.opening import Opener

Race = Callable[[list[Callable[[], Any]]], list[Any]]

NOW = 1_700_000_000
TTL = 3600
ANN = "ann@example.com"
BOB = "bob@example.com"


@pytest.fixture(autouse=True)
def account(users: UserStore) -> User:
    """The account the sessions belong to: opening and rotating check it is unchanged."""
    ann = User(user_id="u1", email=ANN, password_hash="$argon2id$x", created_at=1)
    users.create(ann)
    return ann


def token(
    token_hash: str = "h1", session_id: str = "s1", expires_at: int = NOW + TTL, **claims: Any
) -> TokenRecord:
    return TokenRecord(
        token_hash=token_hash,
        session_id=session_id,
        user_id=claims.pop("user_id", "u1"),
        email=claims.pop("email", ANN),
        roles=claims.pop("roles", ("user",)),
        state=TokenState.CURRENT,
        session_expires_at=expires_at,
        **claims,
    )


def count_failures(users: UserStore, email: str = ANN) -> None:
    for now in (1, 2):
        users.reserve_login_attempt(
            email, FailedLogins(), now=now, max_failures=5, lockout_seconds=60, keep_for=300
        )
    assert users.load_for_login(email)[1] == FailedLogins(2, 2)


def rotatable(sessions: SessionStore, token_hash: str, now: int = NOW) -> bool:
    """Whether the token, as found now, rotates (consuming it)."""
    found = sessions.find_token(token_hash)
    assert found is not None
    try:
        sessions.rotate(found, f"{token_hash}-next", now=now)
    except RotationConflict:
        return False
    return True


# --- opening a session, finding a token --------------------------------------------------


def test_a_new_sessions_first_token_reads_back(
    sessions: SessionStore, open_session: Opener
) -> None:
    first = token(roles=("user", "admin"), email_verified=True)
    open_session(first, now=NOW)
    assert sessions.find_token("h1") == first


def test_an_unknown_token_is_not_found(sessions: SessionStore, open_session: Opener) -> None:
    assert sessions.find_token("h1") is None
    open_session(token(), now=NOW)
    assert sessions.find_token("h2") is None


def test_opening_a_session_clears_that_emails_failures_in_the_same_write(
    stores: Stores, open_session: Opener
) -> None:
    count_failures(stores.users)
    count_failures(stores.users, "bob@example.com")
    open_session(token(), now=NOW, clear_failures_of=ANN)
    assert stores.users.load_for_login(ANN)[1] == FailedLogins()
    assert stores.users.load_for_login("bob@example.com")[1] == FailedLogins(2, 2)
    assert stores.sessions.find_token("h1") == token()


def test_opening_a_session_without_failures_to_clear(stores: Stores, open_session: Opener) -> None:
    open_session(token(), now=NOW, clear_failures_of=ANN)
    open_session(token("h2", "s2"), now=NOW)
    assert stores.users.load_for_login(ANN)[1] == FailedLogins()
    assert stores.sessions.find_token("h2") == token("h2", "s2")


def test_opening_a_session_leaves_failures_unless_asked(
    stores: Stores, open_session: Opener
) -> None:
    count_failures(stores.users)
    open_session(token(), now=NOW)
    assert stores.users.load_for_login(ANN)[1] == FailedLogins(2, 2)


def test_a_session_or_token_that_exists_is_never_overwritten(
    stores: Stores, open_session: Opener
) -> None:
    sessions = stores.sessions
    open_session(token(), now=NOW)
    count_failures(stores.users)
    for clash in (token("h2", "s1"), token("h1", "s2", user_id="u2")):
        with pytest.raises(ClientError) as refused:
            open_session(clash, now=NOW, clear_failures_of=ANN)
        assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    # Nothing of either transaction was written: not a token, not the clearing.
    assert sessions.find_token("h2") is None
    assert sessions.find_token("h1") == token()
    assert stores.users.load_for_login(ANN)[1] == FailedLogins(2, 2)
    assert rotatable(sessions, "h1")  # s1 still points at h1


# --- rotation ----------------------------------------------------------------------------


def test_rotation_retires_the_old_token_and_makes_the_new_one_current(
    sessions: SessionStore, open_session: Opener
) -> None:
    open_session(token(), now=NOW)
    found = sessions.find_token("h1")
    assert found is not None
    new = sessions.rotate(found, "h2", now=NOW + 10)
    assert new == token("h2")
    assert sessions.find_token("h2") == new
    assert sessions.find_token("h1") == replace(token(), state=TokenState.USED)


def verified_account(users: UserStore, email: str = BOB) -> None:
    users.create(User("u1", email, "$argon2id$x", 1, email_verified=True))


def test_every_new_token_keeps_the_sessions_expiry_and_claims(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    verified_account(users)
    first = token(roles=("user", "admin"), email_verified=True, email=BOB)
    open_session(first, now=NOW)
    current = first
    for step, now in enumerate((NOW + 1000, NOW + 2000, NOW + TTL - 1), start=2):
        found = sessions.find_token(current.token_hash)
        assert found is not None
        current = sessions.rotate(found, f"h{step}", now=now)
        assert current == replace(first, token_hash=f"h{step}")
        assert sessions.find_token(f"h{step}") == current


def test_rotation_writes_the_claims_of_the_record_it_is_given(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    """A caller that re-read the account (roles changed, email verified) passes them on."""
    verified_account(users)
    open_session(token(email=BOB), now=NOW)
    found = sessions.find_token("h1")
    assert found is not None
    updated = replace(found, roles=("user", "admin"), email_verified=True)
    new = sessions.rotate(updated, "h2", now=NOW)
    assert new == replace(updated, token_hash="h2")
    assert sessions.find_token("h2") == new


def test_of_two_rotations_of_one_read_the_second_is_refused(
    sessions: SessionStore, open_session: Opener
) -> None:
    """A reads, B reads, A writes, B writes: the conditions refuse B."""
    open_session(token(), now=NOW)
    read_a, read_b = sessions.find_token("h1"), sessions.find_token("h1")
    assert read_a is not None
    assert read_b is not None
    sessions.rotate(read_a, "h-a", now=NOW)
    with pytest.raises(RotationConflict):
        sessions.rotate(read_b, "h-b", now=NOW)
    assert sessions.find_token("h-b") is None  # the loser wrote nothing
    assert sessions.find_token("h-a") == token("h-a")
    assert rotatable(sessions, "h-a")  # the session follows the winner


def test_concurrent_rotations_of_one_token_have_one_winner(
    sessions: SessionStore, race: Race, open_session: Opener
) -> None:
    open_session(token(), now=NOW)
    found = sessions.find_token("h1")
    assert found is not None
    results = race([partial(sessions.rotate, found, f"h-{i}", now=NOW) for i in range(8)])
    winners = [r for r in results if isinstance(r, TokenRecord)]
    assert len(winners) == 1
    assert sum(isinstance(r, RotationConflict) for r in results) == 7
    for i in range(8):
        assert (sessions.find_token(f"h-{i}") is not None) == (winners[0].token_hash == f"h-{i}")
    assert rotatable(sessions, winners[0].token_hash)


def test_a_used_token_cannot_rotate(sessions: SessionStore, open_session: Opener) -> None:
    open_session(token(), now=NOW)
    stale = sessions.find_token("h1")
    assert stale is not None
    assert rotatable(sessions, "h1")
    used = sessions.find_token("h1")
    assert used is not None
    assert used.state == TokenState.USED
    for old in (used, stale):  # as found now, or as read before its rotation
        with pytest.raises(RotationConflict):
            sessions.rotate(old, "h3", now=NOW)
    assert sessions.find_token("h3") is None
    assert rotatable(sessions, "h1-next")  # its successor is unharmed


def test_rotation_is_refused_from_the_expiry_on_though_the_token_is_still_found(
    sessions: SessionStore, open_session: Opener
) -> None:
    """Expiry is in the condition: DynamoDB's TTL deletes late."""
    open_session(token(expires_at=NOW + 10), now=NOW)
    open_session(token("h2", "s2", expires_at=NOW + 10), now=NOW)
    assert rotatable(sessions, "h2", now=NOW + 9)
    found = sessions.find_token("h1")
    assert found is not None
    with pytest.raises(RotationConflict):
        sessions.rotate(found, "h3", now=NOW + 10)
    assert sessions.find_token("h1") == token(expires_at=NOW + 10)
    assert sessions.find_token("h3") is None


def test_rotation_checks_the_stored_expiry_not_the_one_it_is_given(
    sessions: SessionStore, open_session: Opener
) -> None:
    open_session(token(expires_at=NOW + 10), now=NOW)
    found = sessions.find_token("h1")
    assert found is not None
    with pytest.raises(RotationConflict):
        sessions.rotate(replace(found, session_expires_at=NOW + TTL), "h2", now=NOW + 10)


def test_the_sessions_own_expiry_bounds_every_rotation(
    sessions: SessionStore, open_session: Opener
) -> None:
    """A token record carrying a later expiry than its session's still dies with it."""
    open_session(token(expires_at=NOW + 10), now=NOW)
    found = sessions.find_token("h1")
    assert found is not None
    sessions.rotate(replace(found, session_expires_at=NOW + TTL), "h2", now=NOW)
    assert not rotatable(sessions, "h2", now=NOW + 10)
    assert sessions.find_token("h2-next") is None


def test_rotation_to_a_hash_that_exists_is_refused(
    sessions: SessionStore, open_session: Opener
) -> None:
    open_session(token(), now=NOW)
    open_session(token("h2", "s2"), now=NOW)
    found = sessions.find_token("h1")
    assert found is not None
    with pytest.raises(RotationConflict):
        sessions.rotate(found, "h2", now=NOW)
    assert sessions.find_token("h2") == token("h2", "s2")
    assert sessions.find_token("h1") == token()


# --- revocation --------------------------------------------------------------------------


def test_a_revoked_session_cannot_rotate_its_newest_token(
    sessions: SessionStore, open_session: Opener
) -> None:
    open_session(token(), now=NOW)
    open_session(token("other", "s2"), now=NOW)
    assert rotatable(sessions, "h1")
    sessions.revoke(token(), now=NOW + 1)
    newest = sessions.find_token("h1-next")
    assert newest is not None
    with pytest.raises(RotationConflict):
        sessions.rotate(newest, "h3", now=NOW + 1)
    assert sessions.find_token("h3") is None
    assert rotatable(sessions, "other")  # other sessions are untouched


def test_revoking_twice_is_fine(sessions: SessionStore, open_session: Opener) -> None:
    open_session(token(), now=NOW)
    sessions.revoke(token(), now=NOW)
    sessions.revoke(token(), now=NOW + 5)
    assert not rotatable(sessions, "h1", now=NOW + 5)


def test_revoking_an_unknown_session_is_fine_and_writes_nothing(
    sessions: SessionStore, open_session: Opener
) -> None:
    sessions.revoke(token(), now=NOW)
    open_session(token(), now=NOW)  # a session of that id opened later is not revoked
    assert rotatable(sessions, "h1")


def test_a_revocation_racing_a_rotation_leaves_no_token_that_rotates(
    sessions: SessionStore, race: Race, open_session: Opener
) -> None:
    """Either the rotation commits first (its new token is then revoked) or it fails."""
    for i in range(5):
        open_session(token(f"h{i}", f"s{i}"), now=NOW)
        found = sessions.find_token(f"h{i}")
        assert found is not None
        rotated, revoked = race(
            [
                lambda: sessions.rotate(found, f"h{i}-new", now=NOW),  # noqa: B023
                lambda: sessions.revoke(found, now=NOW),  # noqa: B023
            ]
        )
        assert revoked is None
        assert isinstance(rotated, TokenRecord | RotationConflict)
        newest = f"h{i}-new" if isinstance(rotated, TokenRecord) else f"h{i}"
        assert not rotatable(sessions, newest)
