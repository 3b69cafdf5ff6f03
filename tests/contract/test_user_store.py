"""UserStore's contract: users by normalised email, and the failed-login reservations.

Run against the fakes and the DynamoDB repository alike (see conftest). Every read is
strongly consistent: each write below is read straight back.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from stateless_auth.domain.accounts import User
from stateless_auth.domain.errors import EmailTaken
from stateless_auth.domain.lockout import FailedLogins
from stateless_auth.domain.ports import UserStore

Race = Callable[[list[Callable[[], Any]]], list[Any]]

ANN = "ann@example.com"
MAX = 3
LOCKOUT = 60


def user(email: str = ANN, user_id: str = "u1", **fields: Any) -> User:
    return User(user_id=user_id, email=email, password_hash="$argon2id$x", created_at=1, **fields)


def reserve(
    users: UserStore, seen: FailedLogins, now: int, email: str = ANN
) -> tuple[bool, FailedLogins]:
    return users.reserve_login_attempt(
        email, seen, now=now, max_failures=MAX, lockout_seconds=LOCKOUT, keep_for=300
    )


def failures(users: UserStore, email: str = ANN) -> FailedLogins:
    return users.load_for_login(email)[1]


def lock(users: UserStore, email: str = ANN) -> None:
    """MAX failures at times 1, 2, 3: locked until 3 + LOCKOUT."""
    for now in (1, 2, 3):
        assert reserve(users, failures(users, email), now, email)[0]


# --- users -------------------------------------------------------------------------------


def test_a_created_user_reads_back_whole(users: UserStore) -> None:
    ann = user(roles=("user", "admin"))
    users.create(ann)
    assert users.get_by_email(ANN) == ann
    assert users.load_for_login(ANN) == (ann, FailedLogins())


@pytest.mark.parametrize("verified", [False, True])
def test_whether_the_email_is_verified_is_stored(users: UserStore, verified: bool) -> None:
    users.create(user(email_verified=verified))
    found = users.get_by_email(ANN)
    assert found is not None
    assert found.email_verified is verified


def test_an_unknown_email_has_no_user_and_no_failures(users: UserStore) -> None:
    assert users.get_by_email(ANN) is None
    assert users.load_for_login(ANN) == (None, FailedLogins())


def test_an_email_is_taken_by_its_first_user(users: UserStore) -> None:
    users.create(user())
    with pytest.raises(EmailTaken):
        users.create(User(user_id="u2", email=ANN, password_hash="other", created_at=2))
    assert users.get_by_email(ANN) == user()  # the second create wrote nothing


def test_each_email_has_its_own_user(users: UserStore) -> None:
    users.create(user())
    users.create(user("bob@example.com", "u2"))
    assert users.get_by_email(ANN) == user()
    assert users.get_by_email("bob@example.com") == user("bob@example.com", "u2")


def test_concurrent_signups_for_one_email_have_one_winner(users: UserStore, race: Race) -> None:
    candidates = [user(user_id=f"u{i}") for i in range(8)]
    results = race([partial(users.create, u) for u in candidates])
    winners = [u for u, result in zip(candidates, results, strict=True) if result is False]
    assert len(winners) == 1
    assert all(isinstance(r, EmailTaken) for r in results if r is not False)
    assert users.get_by_email(ANN) == winners[0]


def test_a_password_hash_update_is_read_back(users: UserStore) -> None:
    created = user()
    users.create(created)
    assert users.update_password_hash(ANN, "$argon2id$new", replaces=created.password_hash)
    assert users.get_by_email(ANN) == User("u1", ANN, "$argon2id$new", 1)
    assert users.load_for_login(ANN)[0] == User("u1", ANN, "$argon2id$new", 1)


def test_a_password_hash_update_never_creates_a_user(users: UserStore) -> None:
    assert not users.update_password_hash(ANN, "$argon2id$new", replaces="$argon2id$old")
    assert users.get_by_email(ANN) is None


def test_a_rehash_never_writes_over_a_password_changed_meanwhile(users: UserStore) -> None:
    # Login read the old hash, then a reset set another: the rehash of the old password
    # must not put it back (the reset's notice would then be a lie).
    users.create(user())
    assert not users.update_password_hash(ANN, "$argon2id$rehashed-old", replaces="$argon2id$stale")
    assert users.get_by_email(ANN) == user()


# --- failed logins: reservations ---------------------------------------------------------


def test_each_attempt_takes_one_slot_until_the_limit(users: UserStore) -> None:
    users.create(user())
    for now in (1, 2, 3):
        assert reserve(users, failures(users), now) == (True, FailedLogins(now, now))
        assert users.load_for_login(ANN) == (user(), FailedLogins(now, now))
    assert reserve(users, failures(users), 4) == (False, FailedLogins(MAX, 3))


def test_attempts_that_read_the_same_count_share_the_slots_left(users: UserStore) -> None:
    """Every attempt reads the count 2 (one left) before any writes: only one gets through.

    Issue 8 finding 1: the old code checked the password between its read and its write,
    so all of them were checked.
    """
    for now in (1, 2):
        assert reserve(users, failures(users), now)[0]
    seen = [failures(users) for _ in range(5)]
    assert all(s == FailedLogins(MAX - 1, 2) for s in seen)
    outcomes = [reserve(users, s, 10) for s in seen]
    assert outcomes == [(True, FailedLogins(MAX, 10))] + [(False, FailedLogins(MAX, 10))] * 4
    assert failures(users) == FailedLogins(MAX, 10)


def test_concurrent_attempts_take_at_most_the_slots_left(users: UserStore, race: Race) -> None:
    assert reserve(users, FailedLogins(), 1)[0]
    seen = failures(users)
    outcomes = race([lambda: reserve(users, seen, 5)] * 10)
    assert sorted((o for o in outcomes if o[0]), key=lambda o: o[1].count) == [
        (True, FailedLogins(count, 5)) for count in range(2, MAX + 1)
    ]
    assert [o for o in outcomes if not o[0]] == [(False, FailedLogins(MAX, 5))] * (10 - MAX + 1)
    assert failures(users) == FailedLogins(MAX, 5)


def test_a_refused_attempt_writes_nothing_and_gets_the_record_that_refused(
    users: UserStore,
) -> None:
    lock(users)
    # Even from a stale read (no failures seen), the answer is the record as it stands,
    # whose lock-out gives the Retry-After.
    for seen in (FailedLogins(), failures(users)):
        ok, record = reserve(users, seen, 30)
        assert (ok, record) == (False, FailedLogins(MAX, 3))
        assert record.locked_for(30, max_failures=MAX, lockout_seconds=LOCKOUT) == 33
    assert failures(users) == FailedLogins(MAX, 3)  # refusals do not extend the lock


def test_the_lock_lasts_lockout_seconds_from_the_last_failure(users: UserStore) -> None:
    lock(users)
    assert reserve(users, failures(users), 3 + LOCKOUT - 1) == (False, FailedLogins(MAX, 3))
    assert reserve(users, failures(users), 3 + LOCKOUT) == (True, FailedLogins(1, 3 + LOCKOUT))


def test_after_a_lock_ends_the_count_restarts_once(users: UserStore) -> None:
    lock(users)
    seen_a, seen_b = failures(users), failures(users)
    later = 3 + LOCKOUT
    assert reserve(users, seen_a, later) == (True, FailedLogins(1, later))
    # The second restart lost the race; it counts on top instead.
    assert reserve(users, seen_b, later) == (True, FailedLogins(2, later))
    assert failures(users) == FailedLogins(2, later)


def test_a_stale_read_of_an_ended_lock_still_restarts(users: UserStore) -> None:
    lock(users)
    later = 3 + LOCKOUT
    assert reserve(users, FailedLogins(), later) == (True, FailedLogins(1, later))
    assert reserve(users, FailedLogins(), later) == (True, FailedLogins(2, later))


def test_a_read_of_an_ended_lock_since_cleared_counts_from_one(users: UserStore) -> None:
    lock(users)
    seen = failures(users)
    users.clear_failed_logins(ANN)
    later = 3 + LOCKOUT
    assert reserve(users, seen, later) == (True, FailedLogins(1, later))


def test_concurrent_attempts_after_a_lock_restart_it_once(users: UserStore, race: Race) -> None:
    lock(users)
    seen, later = failures(users), 3 + LOCKOUT
    outcomes = race([lambda: reserve(users, seen, later)] * 8)
    assert sorted((o for o in outcomes if o[0]), key=lambda o: o[1].count) == [
        (True, FailedLogins(count, later)) for count in range(1, MAX + 1)
    ]
    assert [o for o in outcomes if not o[0]] == [(False, FailedLogins(MAX, later))] * (8 - MAX)


def test_failures_are_counted_per_email_with_or_without_an_account(users: UserStore) -> None:
    users.create(user())
    lock(users, "ghost@example.com")
    assert users.load_for_login("ghost@example.com") == (None, FailedLogins(MAX, 3))
    assert users.get_by_email("ghost@example.com") is None  # counting created no user
    assert users.load_for_login(ANN) == (user(), FailedLogins())
    assert reserve(users, FailedLogins(), 4) == (True, FailedLogins(1, 4))


# --- failed logins: clearing -------------------------------------------------------------


def test_clearing_resets_the_count_and_keeps_the_user(users: UserStore) -> None:
    users.create(user())
    lock(users)
    users.clear_failed_logins(ANN)
    assert users.load_for_login(ANN) == (user(), FailedLogins())
    assert reserve(users, FailedLogins(), 4) == (True, FailedLogins(1, 4))


def test_clearing_an_email_without_failures_is_quiet(users: UserStore) -> None:
    users.clear_failed_logins(ANN)
    lock(users, "bob@example.com")
    users.clear_failed_logins(ANN)
    assert failures(users, "bob@example.com") == FailedLogins(MAX, 3)
    assert failures(users) == FailedLogins()
