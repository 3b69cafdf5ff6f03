"""The stores' contract for the email flows: signup's replacement rule, one-time tokens
(issued for one password, newest only, single use, expiring), the sessions epoch and
claims checks, and the per-address mail limit.

Run against the fakes and the DynamoDB repositories alike (see conftest). The "reads
before either writes" tests are deterministic interleavings: both uses find the token,
then both write; the threaded ones race for real.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import pytest

from stateless_auth.domain.accounts import User
from stateless_auth.domain.errors import EmailTaken, InvalidOneTimeToken
from stateless_auth.domain.lockout import FailedLogins
from stateless_auth.domain.one_time_tokens import OneTimeToken, Purpose
from stateless_auth.domain.ports import MailLog, SessionStore, UserStore
from stateless_auth.domain.sessions import AccountChanged, RotationConflict, TokenRecord, TokenState
from tests.contract.opening import Opener

Race = Callable[[list[Callable[[], Any]]], list[Any]]

NOW = 1_700_000_000
DAY = 86400
ANN = "ann@example.com"
BOB = "bob@example.com"


def account(
    user_id: str = "u1", password_set_id: str = "p1", *, email: str = ANN, **fields: Any
) -> User:
    """A never-verified account of required mode (it expires in a day), unless told."""
    defaults: dict[str, Any] = {"unverified_expires_at": NOW + DAY}
    return User(
        user_id=user_id,
        email=email,
        password_hash=f"$argon2id${password_set_id}",
        created_at=NOW,
        password_set_id=password_set_id,
        **{**defaults, **fields},
    )


def link(
    token_hash: str = "t1",
    purpose: Purpose = Purpose.VERIFY_EMAIL,
    *,
    expires_at: int = NOW + 600,
    user_id: str = "u1",
    email: str = ANN,
) -> OneTimeToken:
    return OneTimeToken(token_hash, purpose, email, user_id, expires_at)


def issue(users: UserStore, token: OneTimeToken, password_set_id: str = "p1") -> bool:
    """Issue as the mailer does: a verification link only for an unverified account."""
    return users.issue_one_time_token(
        token,
        password_set_id=password_set_id,
        require_unverified=token.purpose is Purpose.VERIFY_EMAIL,
    )


def reset(users: UserStore, token: OneTimeToken, new: str = "p2", now: int = NOW) -> None:
    users.reset_password(token, password_hash=f"$argon2id${new}", password_set_id=new, now=now)


def session(token_hash: str = "h1", session_id: str = "s1", **claims: Any) -> TokenRecord:
    return TokenRecord(
        token_hash=token_hash,
        session_id=session_id,
        user_id=claims.pop("user_id", "u1"),
        email=claims.pop("email", ANN),
        roles=("user",),
        state=TokenState.CURRENT,
        session_expires_at=NOW + DAY,
        **claims,
    )


def rotate(sessions: SessionStore, token_hash: str, new_hash: str) -> TokenRecord:
    found = sessions.find_token(token_hash)
    assert found is not None
    return sessions.rotate(found, new_hash, now=NOW)


# --- signup's conditional write and the replacement rule ----------------------------------


def test_a_new_email_is_created_and_replaces_nothing(users: UserStore) -> None:
    assert users.create(account(), replace_unverified=True) is False
    assert users.get_by_email(ANN) == account()


def test_a_never_verified_account_is_replaced_with_its_links(users: UserStore) -> None:
    users.create(account(), replace_unverified=True)
    assert issue(users, link("old"))
    replacement = account("u2", "p2")
    assert users.create(replacement, replace_unverified=True) is True
    assert users.get_by_email(ANN) == replacement
    old = users.find_one_time_token("old")
    if old is not None:  # the lookup item may outlive the account's slot; it does nothing
        with pytest.raises(InvalidOneTimeToken):
            users.mark_email_verified(old, now=NOW)
    assert not issue(users, link("again"))  # for the old user and password: refused
    assert issue(users, link("new", user_id="u2"), password_set_id="p2")
    new = users.find_one_time_token("new")
    assert new is not None
    users.mark_email_verified(new, now=NOW)


def test_without_replacement_a_never_verified_account_is_taken(users: UserStore) -> None:
    users.create(account(), replace_unverified=True)
    with pytest.raises(EmailTaken):
        users.create(account("u2", "p2"), replace_unverified=False)
    assert users.get_by_email(ANN) == account()


@pytest.mark.parametrize("replace_unverified", [True, False])
def test_a_verified_account_is_never_replaced(users: UserStore, replace_unverified: bool) -> None:
    verified = account(email_verified=True, unverified_expires_at=0)
    users.create(verified)
    with pytest.raises(EmailTaken):
        users.create(account("u2", "p2"), replace_unverified=replace_unverified)
    assert users.get_by_email(ANN) == verified


def test_an_unverified_account_without_expiry_is_never_replaced(users: UserStore) -> None:
    """Made under EMAIL_VERIFICATION=optional: it may have logged in."""
    optional = account(unverified_expires_at=0)
    users.create(optional)
    with pytest.raises(EmailTaken):
        users.create(account("u2", "p2"), replace_unverified=True)
    assert users.get_by_email(ANN) == optional


def test_an_expired_never_verified_account_is_replaced_in_either_mode(users: UserStore) -> None:
    users.create(account(unverified_expires_at=NOW + 10))
    later = replace(account("u2", "p2", unverified_expires_at=0), created_at=NOW + 10)
    assert users.create(later, replace_unverified=False) is True
    assert users.get_by_email(ANN) == later


def test_concurrent_signups_replace_one_after_another(users: UserStore, race: Race) -> None:
    users.create(account(), replace_unverified=True)
    candidates = [account(f"u{i}", f"p{i}") for i in range(2, 7)]
    results = race([partial(users.create, u, replace_unverified=True) for u in candidates])
    assert results == [True] * len(candidates)
    assert users.get_by_email(ANN) in candidates


# --- issuing and finding one-time tokens ---------------------------------------------------


def test_an_issued_token_is_found_by_its_hash(users: UserStore) -> None:
    users.create(account())
    token = link(purpose=Purpose.RESET_PASSWORD)
    assert issue(users, token)
    assert users.find_one_time_token("t1") == token
    assert users.find_one_time_token("never-issued") is None


@pytest.mark.parametrize(
    ("token", "password_set_id"),
    [
        (link(user_id="u2"), "p1"),  # another user (a replaced account)
        (link(), "p0"),  # another password (a later signup replaced it)
        (link(email=BOB), "p1"),  # no such account
    ],
)
def test_a_token_is_issued_only_for_the_account_and_password_read(
    users: UserStore, token: OneTimeToken, password_set_id: str
) -> None:
    users.create(account())
    assert issue(users, token, password_set_id) is False
    assert users.find_one_time_token(token.token_hash) is None


def test_a_verification_link_is_not_issued_once_verified(users: UserStore) -> None:
    users.create(account(email_verified=True, unverified_expires_at=0))
    assert issue(users, link()) is False
    assert users.find_one_time_token("t1") is None
    assert issue(users, link("r1", Purpose.RESET_PASSWORD))  # a reset link still is


# --- using them: single use, newest only, expiry -------------------------------------------


def test_a_verification_link_verifies_once(users: UserStore) -> None:
    users.create(account())
    issue(users, link())
    found = users.find_one_time_token("t1")
    assert found is not None
    users.mark_email_verified(found, now=NOW)
    verified = users.get_by_email(ANN)
    assert verified == replace(account(), email_verified=True, unverified_expires_at=0)
    assert users.find_one_time_token("t1") is None
    with pytest.raises(InvalidOneTimeToken):
        users.mark_email_verified(found, now=NOW)


@pytest.mark.parametrize("purpose", list(Purpose))
def test_only_the_newest_token_of_a_purpose_works(users: UserStore, purpose: Purpose) -> None:
    users.create(account())
    older, newer = link("t1", purpose), link("t2", purpose)
    assert issue(users, older)
    assert issue(users, newer)
    use = users.mark_email_verified if purpose is Purpose.VERIFY_EMAIL else partial(reset, users)
    with pytest.raises(InvalidOneTimeToken):
        use(older, now=NOW)
    use(newer, now=NOW)


def test_the_newest_of_each_purpose_works_on_its_own(users: UserStore) -> None:
    users.create(account())
    issue(users, link("v1"))
    issue(users, link("r1", Purpose.RESET_PASSWORD))
    users.mark_email_verified(link("v1"), now=NOW)
    reset(users, link("r1", Purpose.RESET_PASSWORD))


def test_a_token_works_until_it_expires(users: UserStore) -> None:
    users.create(account())
    issue(users, link(expires_at=NOW + 600))
    with pytest.raises(InvalidOneTimeToken):
        users.mark_email_verified(link(expires_at=NOW + 600), now=NOW + 600)
    users.mark_email_verified(link(expires_at=NOW + 600), now=NOW + 599)


def test_no_token_works_on_an_account_past_its_own_expiry(users: UserStore) -> None:
    users.create(account(unverified_expires_at=NOW + 100))
    issue(users, link(expires_at=NOW + 600))
    with pytest.raises(InvalidOneTimeToken):
        users.mark_email_verified(link(expires_at=NOW + 600), now=NOW + 100)


def test_a_token_naming_another_user_does_nothing(users: UserStore) -> None:
    users.create(account())
    issue(users, link())
    with pytest.raises(InvalidOneTimeToken):
        users.mark_email_verified(link(user_id="u2"), now=NOW)
    # unchanged: unverified, the link still pending
    assert users.get_by_email(ANN) == replace(account(), pending_token_hashes=("t1",))


def test_of_two_verifications_that_read_before_either_writes_one_wins(users: UserStore) -> None:
    users.create(account())
    issue(users, link())
    first, second = users.find_one_time_token("t1"), users.find_one_time_token("t1")
    assert first is not None
    assert second is not None
    users.mark_email_verified(first, now=NOW)
    with pytest.raises(InvalidOneTimeToken):
        users.mark_email_verified(second, now=NOW)


def test_of_two_resets_that_read_before_either_writes_one_wins(users: UserStore) -> None:
    users.create(account())
    issue(users, link(purpose=Purpose.RESET_PASSWORD))
    first, second = users.find_one_time_token("t1"), users.find_one_time_token("t1")
    assert first is not None
    assert second is not None
    reset(users, first, "p2")
    with pytest.raises(InvalidOneTimeToken):
        reset(users, second, "p3")
    after = users.get_by_email(ANN)
    assert after is not None
    assert (after.password_hash, after.password_set_id, after.sessions_epoch) == (
        "$argon2id$p2",
        "p2",
        1,
    )


def test_concurrent_resets_with_one_link_have_one_winner(users: UserStore, race: Race) -> None:
    users.create(account())
    token = link(purpose=Purpose.RESET_PASSWORD)
    issue(users, token)
    results = race([partial(reset, users, token, f"p{i}") for i in range(2, 7)])
    winners = [i for i, result in enumerate(results, start=2) if result is None]
    assert len(winners) == 1
    assert all(isinstance(r, InvalidOneTimeToken) for r in results if r is not None)
    after = users.get_by_email(ANN)
    assert after is not None
    assert after.password_set_id == f"p{winners[0]}"
    assert after.sessions_epoch == 1


def test_a_reset_sets_the_password_verifies_clears_and_ends_every_link(users: UserStore) -> None:
    users.create(account())
    for now in (1, 2):
        users.reserve_login_attempt(
            ANN, FailedLogins(), now=now, max_failures=2, lockout_seconds=60, keep_for=300
        )
    issue(users, link("v1"))
    issue(users, link("r1", Purpose.RESET_PASSWORD))
    reset(users, link("r1", Purpose.RESET_PASSWORD), "p2")
    assert users.load_for_login(ANN) == (
        replace(
            account(),
            password_hash="$argon2id$p2",
            password_set_id="p2",
            email_verified=True,
            sessions_epoch=1,
            unverified_expires_at=0,
        ),
        FailedLogins(),  # the lock-out ended
    )
    assert users.find_one_time_token("r1") is None
    with pytest.raises(InvalidOneTimeToken):
        users.mark_email_verified(link("v1"), now=NOW)  # the pending link ended too
    with pytest.raises(InvalidOneTimeToken):
        reset(users, link("r1", Purpose.RESET_PASSWORD), "p3")
    # a second reset moves the epoch on again
    issue(users, link("r2", Purpose.RESET_PASSWORD), "p2")
    reset(users, link("r2", Purpose.RESET_PASSWORD), "p3")
    again = users.get_by_email(ANN)
    assert again is not None
    assert again.sessions_epoch == 2


# --- sessions follow the account ---------------------------------------------------------


def test_a_reset_ends_every_session_opened_before_it(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    users.create(account())
    open_session(session("h1", "s1"), now=NOW)
    open_session(session("h2", "s2"), now=NOW)
    issue(users, link(purpose=Purpose.RESET_PASSWORD))
    reset(users, link(purpose=Purpose.RESET_PASSWORD))
    for token_hash in ("h1", "h2"):
        with pytest.raises(AccountChanged):
            rotate(sessions, token_hash, f"{token_hash}-next")
    # nor can a login that read the account before the reset open one
    with pytest.raises(AccountChanged):
        open_session(session("h3", "s3"), now=NOW)
    assert sessions.find_token("h3") is None
    # one opened at the new epoch (the claims follow the account: verified by the reset)
    open_session(session("h4", "s4", sessions_epoch=1, email_verified=True), now=NOW)
    assert rotate(sessions, "h4", "h5").sessions_epoch == 1


@pytest.mark.parametrize(
    "record",
    [session(user_id="u2"), session(email=BOB), session(sessions_epoch=1)],
    ids=["another user", "no account", "a later epoch"],
)
def test_a_session_opens_only_for_the_account_as_read(
    users: UserStore, sessions: SessionStore, record: TokenRecord, open_session: Opener
) -> None:
    users.create(account())
    with pytest.raises(AccountChanged):
        open_session(record, now=NOW, clear_failures_of=ANN)
    assert sessions.find_token(record.token_hash) is None


def test_a_replaced_account_ends_the_sessions_of_the_old_one(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    users.create(account(unverified_expires_at=NOW + 10))
    open_session(session(), now=NOW)
    users.create(replace(account("u2", "p2"), created_at=NOW + 10))
    with pytest.raises(AccountChanged):
        rotate(sessions, "h1", "h2")


def test_rotation_checks_the_claims_and_a_refused_one_writes_nothing(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    users.create(account())
    open_session(session(), now=NOW)
    issue(users, link())
    users.mark_email_verified(link(), now=NOW)
    with pytest.raises(AccountChanged):
        rotate(sessions, "h1", "h2")  # the record says unverified; the account is verified
    assert sessions.find_token("h2") is None
    found = sessions.find_token("h1")
    assert found is not None
    assert found.state == TokenState.CURRENT
    new = sessions.rotate(replace(found, email_verified=True), "h2", now=NOW)
    assert new.email_verified is True
    assert sessions.find_token("h2") == new


def test_a_conflict_outranks_the_account_check(
    users: UserStore, sessions: SessionStore, open_session: Opener
) -> None:
    """A used token on a changed account: a plain conflict (not replayed as a change)."""
    users.create(account())
    open_session(session(), now=NOW)
    found = sessions.find_token("h1")
    assert found is not None
    sessions.rotate(found, "h2", now=NOW)
    issue(users, link(purpose=Purpose.RESET_PASSWORD))
    reset(users, link(purpose=Purpose.RESET_PASSWORD))
    with pytest.raises(RotationConflict) as refused:
        sessions.rotate(found, "h3", now=NOW)
    assert type(refused.value) is RotationConflict


# --- the per-address mail limit -----------------------------------------------------------


def test_mails_are_counted_up_to_the_limit(mail_log: MailLog) -> None:
    assert [mail_log.reserve_send(ANN, f"j{i}", now=NOW, limit=3) for i in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert mail_log.reserve_send(BOB, "j9", now=NOW, limit=3)  # per address


def test_the_hour_rolls(mail_log: MailLog) -> None:
    for i, now in enumerate((NOW, NOW + 1000, NOW + 2000)):
        assert mail_log.reserve_send(ANN, f"j{i}", now=now, limit=3)
    assert not mail_log.reserve_send(ANN, "j3", now=NOW + 3599, limit=3)
    assert mail_log.reserve_send(ANN, "j3", now=NOW + 3600, limit=3)  # the first left
    assert not mail_log.reserve_send(ANN, "j4", now=NOW + 3600, limit=3)


def test_a_retried_job_is_counted_once(mail_log: MailLog) -> None:
    assert mail_log.reserve_send(ANN, "j1", now=NOW, limit=2)
    assert mail_log.reserve_send(ANN, "j1", now=NOW + 5, limit=2)
    assert mail_log.reserve_send(ANN, "j2", now=NOW + 10, limit=2)
    assert mail_log.reserve_send(ANN, "j1", now=NOW + 20, limit=2)  # at the limit, still a retry
    assert not mail_log.reserve_send(ANN, "j3", now=NOW + 20, limit=2)


def test_a_suppressed_job_is_not_counted(mail_log: MailLog) -> None:
    assert mail_log.reserve_send(ANN, "j1", now=NOW, limit=1)
    assert not mail_log.reserve_send(ANN, "j2", now=NOW + 1, limit=1)
    assert not mail_log.reserve_send(ANN, "j2", now=NOW + 2, limit=1)
    assert mail_log.reserve_send(ANN, "j2", now=NOW + 3600, limit=1)
    assert not mail_log.reserve_send(ANN, "j3", now=NOW + 3600, limit=1)


def test_concurrent_mailers_take_at_most_the_limit(mail_log: MailLog, race: Race) -> None:
    results = race(
        [partial(mail_log.reserve_send, ANN, f"j{i}", now=NOW, limit=3) for i in range(6)]
    )
    assert sorted(results) == [False, False, False, True, True, True]
