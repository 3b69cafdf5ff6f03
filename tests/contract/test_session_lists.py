"""The account's list of its sessions (the authority for refresh): listing, ending one,
ending all, revocation unlisting, password change, account deletion, a login racing
either, the cap of MAX_SESSIONS_PER_ACCOUNT, and accounts made before the lists.

Run against the fakes and the DynamoDB repositories alike (see conftest). "From the
same read" tests are deterministic interleavings: both read, then both write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import pytest

from stateless_auth.domain.accounts import User
from stateless_auth.domain.errors import InvalidOneTimeToken
from stateless_auth.domain.lockout import FailedLogins
from stateless_auth.domain.one_time_tokens import OneTimeToken, Purpose
from stateless_auth.domain.ports import SessionStore, UserStore
from stateless_auth.domain.sessions import (
    MAX_SESSIONS_PER_ACCOUNT,
    AccountChanged,
    RotationConflict,
    SessionInfo,
    TokenRecord,
    TokenState,
)
from tests.contract.implementations import Stores
from tests.contract.opening import NOW, Opener

Race = Callable[[list[Callable[[], Any]]], list[Any]]

TTL = 3600
ANN = "ann@example.com"
BOB = "bob@example.com"
AGENT = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
IP = "203.0.113.7"


@pytest.fixture(autouse=True)
def accounts(users: UserStore) -> None:
    users.create(User("u1", ANN, "$argon2id$p1", 1, password_set_id="p1"))
    users.create(User("u2", BOB, "$argon2id$b1", 1, password_set_id="b1"))


def token(
    token_hash: str = "h1",
    session_id: str = "s1",
    *,
    user_id: str = "u1",
    email: str = ANN,
    expires_at: int = NOW + TTL,
) -> TokenRecord:
    return TokenRecord(
        token_hash=token_hash,
        session_id=session_id,
        user_id=user_id,
        email=email,
        roles=("user",),
        state=TokenState.CURRENT,
        session_expires_at=expires_at,
    )


def bobs(token_hash: str = "hb", session_id: str = "sb") -> TokenRecord:
    return token(token_hash, session_id, user_id="u2", email=BOB)


def read(users: UserStore, email: str = ANN) -> User:
    user = users.get_by_email(email)
    assert user is not None
    return user


def listed(users: UserStore, email: str = ANN) -> dict[str, SessionInfo]:
    return {s.session_id: s for s in read(users, email).sessions}


def rotate(sessions: SessionStore, token_hash: str, now: int = NOW) -> TokenRecord:
    """Rotate the token as found now to `<hash>+`."""
    found = sessions.find_token(token_hash)
    assert found is not None
    return sessions.rotate(found, f"{token_hash}+", now=now)


def refused(sessions: SessionStore, token_hash: str, now: int = NOW) -> type[Exception] | None:
    """How a rotation of the token (as found now) is refused; None if it rotated."""
    try:
        rotate(sessions, token_hash, now)
    except (AccountChanged, RotationConflict) as exc:
        return type(exc)
    return None


def change(users: UserStore, user: User, new: str, keep: SessionInfo | None = None) -> None:
    users.change_password(
        user, password_hash=f"$argon2id${new}", password_set_id=new, keep_session=keep
    )


def pending_links(users: UserStore) -> tuple[OneTimeToken, OneTimeToken]:
    """A verification and a reset link pending on ann's account."""
    verify = OneTimeToken("v1", Purpose.VERIFY_EMAIL, ANN, "u1", NOW + 600)
    reset = OneTimeToken("r1", Purpose.RESET_PASSWORD, ANN, "u1", NOW + 600)
    for link in (verify, reset):
        assert users.issue_one_time_token(
            link, password_set_id="p1", require_unverified=link.purpose is Purpose.VERIFY_EMAIL
        )
    return verify, reset


def count_failures(users: UserStore, email: str = ANN) -> None:
    for now in (1, 2):
        users.reserve_login_attempt(
            email, FailedLogins(), now=now, max_failures=5, lockout_seconds=60, keep_for=300
        )
    assert users.load_for_login(email)[1] == FailedLogins(2, 2)


# --- listing -------------------------------------------------------------------------------


def test_a_new_account_lists_no_sessions(users: UserStore) -> None:
    ann = read(users)
    assert ann.sessions == ()
    assert ann.lists_sessions is True


def test_the_account_lists_each_session_as_opened(users: UserStore, open_session: Opener) -> None:
    first = open_session(token(), user_agent=AGENT, ip=IP)
    second = open_session(token("h2", "s2", expires_at=NOW + 99), now=NOW + 5, ip="2001:db8::1")
    assert first == SessionInfo("s1", NOW, NOW, NOW + TTL, AGENT, IP)
    assert second == SessionInfo("s2", NOW + 5, NOW + 5, NOW + 99, "", "2001:db8::1")
    assert listed(users) == {"s1": first, "s2": second}
    assert listed(users, BOB) == {}


def test_a_rotation_records_when_the_session_was_last_used(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    first = open_session(token(), user_agent=AGENT, ip=IP)
    second = open_session(token("h2", "s2"))
    rotate(sessions, "h1", NOW + 100)
    rotate(sessions, "h1+", NOW + 250)
    assert listed(users) == {"s1": replace(first, last_used_at=NOW + 250), "s2": second}


def test_a_session_the_account_does_not_list_cannot_refresh(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    """Logged in as bob, the session's token naming ann (who does not list it)."""
    open_session(bobs())
    found = sessions.find_token("hb")
    assert found is not None
    with pytest.raises(AccountChanged):
        sessions.rotate(replace(found, user_id="u1", email=ANN), "hb+", now=NOW)
    assert sessions.find_token("hb+") is None


# --- ending one ----------------------------------------------------------------------------


def test_ending_an_own_session_ends_it_and_its_refresh(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    open_session(token())
    kept = open_session(token("h2", "s2"))
    rotate(sessions, "h1")  # its newest token, h1+, ends with it
    assert sessions.end_session(ANN, "u1", "s1", now=NOW + 1) is True
    assert listed(users) == {"s2": kept}
    assert refused(sessions, "h1+") is RotationConflict  # revoked
    assert refused(sessions, "h2") is None


@pytest.mark.parametrize(
    ("email", "user_id", "session_id"),
    [
        (ANN, "u1", "sb"),  # bob's session, through ann's account
        (BOB, "u1", "sb"),  # bob's account, ann's user id
        (ANN, "u1", "never-opened"),
        (ANN, "u2", "s1"),  # ann's session, with another user's id
    ],
    ids=["another user's", "another account", "unknown", "a stale user id"],
)
def test_ending_a_session_the_caller_does_not_list_changes_nothing(
    users: UserStore,
    sessions: SessionStore,
    open_session: Opener,
    email: str,
    user_id: str,
    session_id: str,
) -> None:
    open_session(token())
    open_session(bobs())
    before = listed(users), listed(users, BOB)
    assert sessions.end_session(email, user_id, session_id, now=NOW) is False
    assert (listed(users), listed(users, BOB)) == before
    assert refused(sessions, "h1") is None
    assert refused(sessions, "hb") is None


def test_ending_a_session_twice_answers_false_the_second_time(
    sessions: SessionStore, open_session: Opener
) -> None:
    open_session(token())
    assert sessions.end_session(ANN, "u1", "s1", now=NOW)
    assert sessions.end_session(ANN, "u1", "s1", now=NOW) is False


# --- ending all ----------------------------------------------------------------------------


def test_ending_all_refuses_every_session_of_the_account_only(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    for i in range(5):
        open_session(token(f"h{i}", f"s{i}"))
    open_session(bobs())
    rotate(sessions, "h0")
    assert sessions.end_all_sessions(ANN, "u1") is True
    assert listed(users) == {}
    for token_hash in ("h0+", "h1", "h2", "h3", "h4"):
        assert refused(sessions, token_hash) is AccountChanged
    assert refused(sessions, "hb") is None  # bob's are untouched
    assert len(listed(users, BOB)) == 1


def test_ending_all_for_another_user_id_changes_nothing(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    open_session(token())
    assert sessions.end_all_sessions(ANN, "u2") is False
    assert sessions.end_all_sessions("ghost@example.com", "u1") is False
    assert users.get_by_email("ghost@example.com") is None  # no item made
    assert set(listed(users)) == {"s1"}
    assert refused(sessions, "h1") is None


def test_a_login_after_ending_all_opens_a_session_that_stays(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    stale = read(users)  # read before logout-all, written after it
    open_session(token())
    sessions.end_all_sessions(ANN, "u1")
    open_session(token("h2", "s2"), account=stale)
    assert set(listed(users)) == {"s2"}
    assert refused(sessions, "h2") is None
    assert refused(sessions, "h1") is AccountChanged


def test_a_refresh_racing_logout_all_leaves_no_token_that_refreshes(
    users: UserStore, sessions: SessionStore, open_session: Opener, race: Race
) -> None:
    """Either the rotation commits first (its new token is then unlisted with the rest)
    or it fails."""
    for i in range(5):
        open_session(token(f"h{i}", f"s{i}"))
        found = sessions.find_token(f"h{i}")
        assert found is not None
        rotated, ended = race(
            [
                lambda: sessions.rotate(found, f"h{i}+", now=NOW),  # noqa: B023
                lambda: sessions.end_all_sessions(ANN, "u1"),
            ]
        )
        assert ended is True
        assert isinstance(rotated, TokenRecord | AccountChanged), rotated
        newest = f"h{i}+" if isinstance(rotated, TokenRecord) else f"h{i}"
        assert refused(sessions, newest) is AccountChanged
        assert listed(users) == {}


# --- revocation (logout, a replayed token) unlists -----------------------------------------


def test_revoking_unlists_the_session_and_only_it(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    open_session(token())
    kept = open_session(token("h2", "s2"))
    rotate(sessions, "h1")
    used = sessions.find_token("h1")  # a replayed token revokes with its own record
    assert used is not None
    assert used.state == TokenState.USED
    sessions.revoke(used, now=NOW + 1)
    assert listed(users) == {"s2": kept}
    assert refused(sessions, "h1+") is RotationConflict
    assert refused(sessions, "h2") is None


def test_revoking_a_session_of_a_deleted_account_revokes_it_alone(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    open_session(token())
    users.delete_account(read(users))
    sessions.revoke(token(), now=NOW)
    assert users.get_by_email(ANN) is None  # the unlisting made no item
    users.create(User("u9", ANN, "$argon2id$new", 2))  # nor blocks a signup
    assert listed(users) == {}


# --- password change -----------------------------------------------------------------------


def test_a_password_change_keeps_exactly_the_given_session(
    stores: Stores, users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    open_session(token())
    kept = open_session(token("h2", "s2"), user_agent=AGENT, ip=IP)
    open_session(token("h3", "s3"))
    open_session(bobs())
    verify, reset = pending_links(users)
    count_failures(users)
    before = read(users)
    assert before.pending_token_hashes == ("v1", "r1")
    change(users, before, "p2", keep=kept)
    after = read(users)
    assert (after.password_hash, after.password_set_id) == ("$argon2id$p2", "p2")
    assert after.sessions == (kept,)
    assert after.pending_token_hashes == ()
    assert (after.user_id, after.sessions_epoch) == (before.user_id, before.sessions_epoch)
    assert refused(sessions, "h1") is AccountChanged
    assert refused(sessions, "h3") is AccountChanged
    assert refused(sessions, "h2") is None  # the caller's own goes on
    assert refused(sessions, "hb") is None
    # the pending links ended (their lookup items too), the failed logins cleared
    for link in (verify, reset):
        assert users.find_one_time_token(link.token_hash) is None
        assert not stores.users_item_exists(f"OTT#{link.token_hash}")
    with pytest.raises(InvalidOneTimeToken):
        users.mark_email_verified(verify, now=NOW)
    with pytest.raises(InvalidOneTimeToken):
        users.reset_password(reset, password_hash="$argon2id$p3", password_set_id="p3", now=NOW)
    assert users.load_for_login(ANN)[1] == FailedLogins()
    assert not stores.users_item_exists(f"FAILED#{ANN}")


def test_a_password_change_keeping_none_ends_them_all(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    open_session(token())
    change(users, read(users), "p2")
    assert listed(users) == {}
    assert refused(sessions, "h1") is AccountChanged


def test_of_two_password_changes_from_the_same_read_one_wins(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    mine = open_session(token())
    theirs = open_session(token("h2", "s2"))
    first, second = read(users), read(users)
    change(users, first, "p2", keep=mine)
    with pytest.raises(AccountChanged):
        change(users, second, "p3", keep=theirs)
    after = read(users)
    assert after.password_hash == "$argon2id$p2"
    assert after.sessions == (mine,)
    assert refused(sessions, "h2") is AccountChanged


def test_concurrent_password_changes_have_one_winner(
    users: UserStore, open_session: Opener, race: Race
) -> None:
    kept = [open_session(token(f"h{i}", f"s{i}")) for i in range(5)]
    ann = read(users)
    results = race([partial(change, users, ann, f"p{i + 2}", kept[i]) for i in range(5)])
    winners = [i for i, result in enumerate(results) if result is None]
    assert len(winners) == 1
    assert all(isinstance(r, AccountChanged) for r in results if r is not None)
    after = read(users)
    assert after.password_hash == f"$argon2id$p{winners[0] + 2}"
    assert after.sessions == (kept[winners[0]],)


def test_a_password_change_from_a_stale_read_of_another_account_is_refused(
    users: UserStore,
) -> None:
    ann = read(users)
    users.delete_account(ann)
    users.create(User("u9", ANN, "$argon2id$p1", 2))  # the same hash, another account
    with pytest.raises(AccountChanged):
        change(users, ann, "p2")
    assert read(users).password_hash == "$argon2id$p1"


# --- account deletion ----------------------------------------------------------------------


def test_deleting_the_account_removes_it_its_failures_and_links(
    stores: Stores, users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    open_session(token())
    open_session(bobs())
    pending_links(users)
    count_failures(users)
    count_failures(users, BOB)
    users.delete_account(read(users))
    assert users.get_by_email(ANN) is None
    assert users.load_for_login(ANN) == (None, FailedLogins())
    for pk in (f"EMAIL#{ANN}", f"FAILED#{ANN}", "OTT#v1", "OTT#r1"):
        assert not stores.users_item_exists(pk), pk
    assert refused(sessions, "h1") is AccountChanged
    # bob's account is untouched
    assert users.load_for_login(BOB)[1] == FailedLogins(2, 2)
    assert refused(sessions, "hb") is None


def test_the_email_signs_up_again_at_once_and_the_old_sessions_stay_refused(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    open_session(token())
    rotate(sessions, "h1")
    users.delete_account(read(users))
    again = User("u9", ANN, "$argon2id$p9", NOW, password_set_id="p9")
    assert users.create(again) is False
    assert read(users) == again
    assert refused(sessions, "h1+") is AccountChanged
    open_session(token("h9", "s9", user_id="u9"))  # the new account's own work
    assert refused(sessions, "h9") is None
    assert refused(sessions, "h1+") is AccountChanged
    assert set(listed(users)) == {"s9"}


def test_a_deletion_from_a_stale_read_is_refused_and_deletes_nothing(
    stores: Stores, users: UserStore
) -> None:
    stale = read(users)
    change(users, read(users), "p2")
    with pytest.raises(AccountChanged):
        users.delete_account(stale)
    assert read(users).password_hash == "$argon2id$p2"


def test_of_two_deletions_from_the_same_read_one_wins(users: UserStore) -> None:
    first, second = read(users), read(users)
    users.delete_account(first)
    with pytest.raises(AccountChanged):
        users.delete_account(second)
    assert users.get_by_email(ANN) is None


# --- a login racing a change ---------------------------------------------------------------


@pytest.mark.parametrize(
    "meanwhile",
    [
        lambda users: change(users, read(users), "p2"),
        lambda users: users.delete_account(read(users)),
        lambda users: (
            users.delete_account(read(users)),
            users.create(User("u9", ANN, "$argon2id$p1", 2)),  # even with the same hash
        ),
    ],
    ids=["password changed", "account deleted", "deleted and signed up again"],
)
def test_a_login_that_read_the_account_before_a_change_opens_no_session(
    users: UserStore,
    sessions: SessionStore,
    open_session: Opener,
    meanwhile: Callable[[UserStore], Any],
) -> None:
    count_failures(users)
    stale = read(users)
    meanwhile(users)
    state = users.get_by_email(ANN)
    failures = users.load_for_login(ANN)[1]
    with pytest.raises(AccountChanged):
        open_session(token(), account=stale, clear_failures_of=ANN)
    assert sessions.find_token("h1") is None
    assert users.get_by_email(ANN) == state  # nothing listed
    assert users.load_for_login(ANN)[1] == failures  # nor cleared


# --- the cap -------------------------------------------------------------------------------


def test_beyond_the_cap_the_least_recently_used_session_ends(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    for i in range(MAX_SESSIONS_PER_ACCOUNT):
        open_session(token(f"h{i}", f"s{i}"), now=NOW + i)
    rotate(sessions, "h0", NOW + 200)  # the oldest, used since: s1 is the least recent
    assert len(listed(users)) == MAX_SESSIONS_PER_ACCOUNT
    open_session(token("hn", "sn"), now=NOW + 201)
    now_listed = listed(users)
    assert len(now_listed) == MAX_SESSIONS_PER_ACCOUNT
    assert set(now_listed) == {"s0", "sn"} | {f"s{i}" for i in range(2, MAX_SESSIONS_PER_ACCOUNT)}
    assert refused(sessions, "h1", NOW + 202) is AccountChanged
    assert refused(sessions, "h0+", NOW + 202) is None
    assert refused(sessions, "hn", NOW + 202) is None


def test_a_login_drops_the_expired_sessions_from_the_list(
    users: UserStore, open_session: Opener
) -> None:
    open_session(token("h1", "s1", expires_at=NOW + 10))
    live = open_session(token("h2", "s2"))
    opened = open_session(token("h3", "s3"), now=NOW + 10)
    assert listed(users) == {"s2": live, "s3": opened}


# --- accounts made before session lists ----------------------------------------------------


def test_an_account_without_a_list_gets_one_at_its_next_login(
    stores: Stores, users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    stores.make_legacy(ANN)
    legacy = read(users)
    assert (legacy.sessions, legacy.lists_sessions) == ((), False)
    first = open_session(token(), user_agent=AGENT, account=legacy)
    assert listed(users) == {"s1": first}
    assert read(users).lists_sessions is True
    assert refused(sessions, "h1") is None
    # a login that read the account before it had its list: refused, the list kept
    with pytest.raises(AccountChanged):
        open_session(token("h2", "s2"), account=legacy)
    assert set(listed(users)) == {"s1"}


def test_an_account_without_a_list_ends_nothing_one_by_one_and_all_at_once(
    stores: Stores, users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    open_session(token())
    stores.make_legacy(ANN)  # s1 was opened before the lists: it cannot refresh
    assert refused(sessions, "h1") is AccountChanged
    assert sessions.end_session(ANN, "u1", "s1", now=NOW) is False
    sessions.revoke(token(), now=NOW)  # revoked alone: no list is made
    assert read(users).lists_sessions is False
    assert sessions.end_all_sessions(ANN, "u1") is True
    assert (read(users).sessions, read(users).lists_sessions) == ((), True)


# --- a password reset ends them all, as logout-all does ------------------------------------


def test_a_password_reset_empties_the_list(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    open_session(token())
    open_session(token("h2", "s2"))
    _, reset = pending_links(users)
    users.reset_password(reset, password_hash="$argon2id$p2", password_set_id="p2", now=NOW)
    after = read(users)
    assert (after.sessions, after.lists_sessions) == ((), True)
    assert refused(sessions, "h1") is AccountChanged
    assert refused(sessions, "h2") is AccountChanged


def test_a_password_change_never_lists_again_a_session_ended_since_its_read(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    """Found by the attacker review: the change read the account with the caller's
    session listed, logout-all emptied the list, then the change wrote. Its condition
    (the kept entry still listed) refuses, and nothing changed."""
    kept = open_session(token())
    before = read(users)
    sessions.end_all_sessions(ANN, "u1")
    with pytest.raises(AccountChanged):
        change(users, before, "p2", keep=kept)
    after = read(users)
    assert after.sessions == ()
    assert after.password_hash == before.password_hash
    assert refused(sessions, "h1") is AccountChanged
