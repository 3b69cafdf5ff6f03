"""The caller's sessions (list, end one, logout-all), password change and account
deletion, over the in-memory stores. The races are deterministic interleavings: a
store's `once_before(operation, call)` runs `call` between an operation's read and its
write (tests/support/fakes.py)."""

from __future__ import annotations

import pytest

from stateless_auth.domain.accounts import Caller
from stateless_auth.domain.errors import (
    InvalidCredentials,
    InvalidOneTimeToken,
    LoginFailed,
    NotFound,
    RefreshRejected,
    TooManyAttempts,
    WeakPassword,
)
from stateless_auth.domain.lockout import FailedLogins
from stateless_auth.domain.mail import MailKind
from stateless_auth.domain.sessions import USER_AGENT_MAX_LENGTH, TokenGrant
from stateless_auth.tokens.keys import KeySet
from tests.support.clock import Clock
from tests.support.fakes import FakeSessions, FakeUsers, Flows, caller_of
from tests.support.flows import flows_over
from tests.support.settings import ISSUER

ANN = "ann@example.com"
BOB = "bob@example.com"
PASSWORD = "correct horse battery staple"
NEW = "a brand new passphrase of ann's"
OTHER = "another new passphrase entirely"
WRONG = "not the password at all, no"
MAX = 3
AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
IP = "203.0.113.7"
UNKNOWN_ID = "0b8f4c3e-2d6a-4f1b-9c7e-5a4d3b2c1e0f"


@pytest.fixture(scope="module")
def key_set() -> KeySet:
    return KeySet.generate()


@pytest.fixture
def sessions(users: FakeUsers) -> FakeSessions:
    return FakeSessions(users)


@pytest.fixture
def service(key_set: KeySet, clock: Clock, users: FakeUsers, sessions: FakeSessions) -> Flows:
    flows = flows_over(
        users,
        sessions=sessions,
        key_set=key_set,
        clock=clock,
        REFRESH_TOKEN_TTL_SECONDS="3600",
        MAX_FAILED_LOGINS=str(MAX),
        LOCKOUT_SECONDS="300",
    )
    flows.signup_verified(ANN, PASSWORD)
    flows.signup_verified(BOB, PASSWORD)
    flows.mail.take()
    return flows


def login(service: Flows, email: str = ANN, password: str = PASSWORD, **client: str) -> TokenGrant:
    return service.login(email, password, issuer=ISSUER, **client)


def refreshes(service: Flows, grant: TokenGrant) -> str:
    """ "ok" if the grant's refresh token rotates (then forgotten), else the refusal's reason."""
    try:
        service.refresh(grant.refresh_token, issuer=ISSUER)
    except RefreshRejected as rejected:
        return rejected.reason
    return "ok"


def listed_ids(service: Flows, caller: Caller) -> list[str]:
    return [s.session_id for s in service.list_sessions(caller)]


# --- listing -------------------------------------------------------------------------------


def test_the_list_shows_each_session_as_logged_in_newest_first(
    service: Flows, clock: Clock
) -> None:
    started = int(clock.now)
    first = login(service, user_agent=AGENT, ip=IP)
    clock.now += 10
    second = login(service, user_agent="curl/8.5.0", ip="2001:db8::1")
    clock.now += 10
    third = login(service)
    listed = service.list_sessions(caller_of(third))
    assert [s.session_id for s in listed] == [third.session_id, second.session_id, first.session_id]
    oldest = listed[-1]
    assert (oldest.created_at, oldest.last_used_at, oldest.expires_at) == (
        started,
        started,
        started + 3600,
    )
    assert (oldest.user_agent, oldest.ip) == (AGENT, IP)
    assert (listed[1].user_agent, listed[1].ip) == ("curl/8.5.0", "2001:db8::1")
    assert (listed[0].user_agent, listed[0].ip) == ("", "")


def test_a_refresh_moves_last_used_at_only(service: Flows, clock: Clock) -> None:
    grant = login(service)
    clock.now += 100
    service.refresh(grant.refresh_token, issuer=ISSUER)
    (entry,) = service.list_sessions(caller_of(grant))
    assert entry.last_used_at == int(clock.now)
    assert entry.created_at == int(clock.now) - 100


def test_the_current_session_is_the_callers(service: Flows) -> None:
    """The handler marks `current` by the caller's sid: each access token names its own."""
    a, b = login(service), login(service)
    assert caller_of(a).session_id == a.session_id
    assert caller_of(b).session_id == b.session_id
    assert set(listed_ids(service, caller_of(a))) == {a.session_id, b.session_id}


def test_the_user_agent_is_cut_to_256_characters(service: Flows) -> None:
    agent = "A" * 200 + "B" * 100 + "C" * 700
    grant = login(service, user_agent=agent)
    (entry,) = service.list_sessions(caller_of(grant))
    assert len(entry.user_agent) == USER_AGENT_MAX_LENGTH == 256
    assert entry.user_agent == agent[:256]


def test_expired_sessions_are_not_listed(service: Flows, clock: Clock) -> None:
    old = login(service)
    clock.now += 3000
    new = login(service)
    clock.now += 600  # old's expiry
    assert listed_ids(service, caller_of(new)) == [new.session_id]
    assert refreshes(service, old) == "expired"


def test_each_account_lists_only_its_own(service: Flows) -> None:
    ann, bob = login(service), login(service, BOB)
    assert listed_ids(service, caller_of(ann)) == [ann.session_id]
    assert listed_ids(service, caller_of(bob)) == [bob.session_id]


def test_a_token_that_outlived_its_account_lists_nothing(service: Flows) -> None:
    grant = login(service)
    service.delete_account(caller_of(grant), PASSWORD)
    assert service.list_sessions(caller_of(grant)) == []
    service.signup_verified(ANN, PASSWORD)  # a new account at the address
    login(service)
    assert service.list_sessions(caller_of(grant)) == []


# --- ending one ----------------------------------------------------------------------------


def test_ending_one_session_ends_its_refresh_and_no_other(service: Flows) -> None:
    a, b = login(service), login(service)
    service.end_session(caller_of(a), b.session_id)
    assert listed_ids(service, caller_of(a)) == [a.session_id]
    assert refreshes(service, b) == "conflict"  # revoked
    assert refreshes(service, a) == "ok"


def test_another_users_session_id_answers_exactly_as_an_unknown_one(
    service: Flows, sessions: FakeSessions
) -> None:
    ann, bob = login(service), login(service, BOB)
    with pytest.raises(NotFound) as theirs:
        service.end_session(caller_of(ann), bob.session_id)
    with pytest.raises(NotFound) as unknown:
        service.end_session(caller_of(ann), UNKNOWN_ID)
    assert (type(theirs.value), theirs.value.message) == (
        type(unknown.value),
        unknown.value.message,
    )
    # nothing changed: bob's session lives and is listed
    assert bob.session_id not in sessions.revoked
    assert listed_ids(service, caller_of(bob)) == [bob.session_id]
    assert refreshes(service, bob) == "ok"


@pytest.mark.parametrize(
    "session_id",
    ["", "nope", "../../etc", UNKNOWN_ID.upper(), UNKNOWN_ID + "0", "s" * 5000],
)
def test_a_malformed_session_id_is_not_found_and_never_reaches_the_store(
    service: Flows, sessions: FakeSessions, session_id: str
) -> None:
    grant = login(service)
    sessions.once_before("end_session", lambda: pytest.fail("the store was asked"))
    with pytest.raises(NotFound):
        service.end_session(caller_of(grant), session_id)


def test_ending_the_callers_own_session_works_too(service: Flows) -> None:
    grant = login(service)
    service.end_session(caller_of(grant), grant.session_id)
    assert refreshes(service, grant) == "conflict"
    with pytest.raises(NotFound):  # and a second time it is gone
        service.end_session(caller_of(grant), grant.session_id)


# --- logout-all ----------------------------------------------------------------------------


def test_logout_all_ends_every_session_the_callers_included(service: Flows) -> None:
    grants = [login(service) for _ in range(4)]
    bob = login(service, BOB)
    rotated = service.refresh(grants[0].refresh_token, issuer=ISSUER)
    service.logout_all(caller_of(grants[1]))
    assert service.list_sessions(caller_of(grants[1])) == []
    for grant in [rotated, *grants[1:]]:
        assert refreshes(service, grant) == "account_changed"
    assert refreshes(service, bob) == "ok"


def test_a_refresh_that_commits_before_logout_all_gets_a_token_that_is_then_refused(
    service: Flows,
) -> None:
    grant = login(service)
    new = service.refresh(grant.refresh_token, issuer=ISSUER)  # committed
    service.logout_all(caller_of(grant))  # then logout-all returns
    assert refreshes(service, new) == "account_changed"
    assert refreshes(service, grant) == "reuse"


def test_a_refresh_whose_write_comes_after_logout_all_fails(
    service: Flows, sessions: FakeSessions
) -> None:
    """The refresh has read its token; logout-all lands before its rotation writes."""
    grant = login(service)
    sessions.once_before("rotate", lambda: service.logout_all(caller_of(grant)))
    with pytest.raises(RefreshRejected) as refused:
        service.refresh(grant.refresh_token, issuer=ISSUER)
    assert refused.value.reason == "account_changed"
    assert grant.session_id in sessions.revoked
    assert refreshes(service, grant) == "conflict"


def test_a_login_that_commits_after_logout_all_stays(
    service: Flows, sessions: FakeSessions
) -> None:
    """A login racing logout-all: if its session opens after logout-all wrote, it is a
    new session and stays (its user logged in after asking for the others to end);
    every session that existed when logout-all ran is ended. If the login commits first,
    it is one of those, and ends too (the next test)."""
    existing = [login(service), login(service)]
    sessions.once_before("create", lambda: service.logout_all(caller_of(existing[0])))
    late = login(service)
    assert listed_ids(service, caller_of(late)) == [late.session_id]
    assert refreshes(service, late) == "ok"
    for grant in existing:
        assert refreshes(service, grant) == "account_changed"


def test_a_login_that_commits_before_logout_all_ends_with_the_rest(service: Flows) -> None:
    existing = login(service)
    early = login(service)
    service.logout_all(caller_of(existing))
    assert service.list_sessions(caller_of(early)) == []
    assert refreshes(service, early) == "account_changed"


# --- password change -----------------------------------------------------------------------


def test_a_password_change_keeps_the_callers_session_and_refuses_the_others(
    service: Flows, users: FakeUsers
) -> None:
    mine, other, third = login(service, user_agent=AGENT), login(service), login(service)
    bob = login(service, BOB)
    service.forgot_password(ANN)
    service.deliver_queued()
    reset_link = service.token_for(ANN, "reset_password")
    assert service.change_password(caller_of(mine), PASSWORD, NEW) is True
    assert listed_ids(service, caller_of(mine)) == [mine.session_id]
    (kept,) = service.list_sessions(caller_of(mine))
    assert kept.user_agent == AGENT
    assert refreshes(service, mine) == "ok"
    for grant in (other, third):
        assert refreshes(service, grant) == "account_changed"
    assert refreshes(service, bob) == "ok"
    # the notice, the new password only, the pending reset link ended
    assert [job.kind for job in service.mail.take()] == [MailKind.PASSWORD_CHANGED]
    with pytest.raises(InvalidCredentials):
        login(service, password=PASSWORD)
    assert login(service, password=NEW).access_token
    with pytest.raises(InvalidOneTimeToken):
        service.reset_password(reset_link, OTHER)


def test_a_password_change_clears_the_failed_logins(service: Flows, users: FakeUsers) -> None:
    mine = login(service)
    with pytest.raises(LoginFailed):
        login(service, password=WRONG)
    service.change_password(caller_of(mine), PASSWORD, NEW)
    assert users.failures.get(ANN) is None


def test_of_two_password_changes_at_once_one_wins(service: Flows, users: FakeUsers) -> None:
    """The second change runs whole between the first's check and its write: the first
    then finds the password changed and answers 401 invalid_credentials."""
    mine, theirs = login(service), login(service)
    users.once_before(
        "change_password", lambda: service.change_password(caller_of(theirs), PASSWORD, OTHER)
    )
    with pytest.raises(InvalidCredentials) as lost:
        service.change_password(caller_of(mine), PASSWORD, NEW)
    assert lost.value.message == "the password is incorrect"
    assert login(service, password=OTHER).access_token  # the winner's password works
    with pytest.raises(InvalidCredentials):
        login(service, password=NEW)
    assert refreshes(service, theirs) == "ok"
    assert refreshes(service, mine) == "account_changed"


def test_a_weak_new_password_answers_400_and_counts_no_failure(
    service: Flows, users: FakeUsers
) -> None:
    mine = login(service)
    reservations = users.reservations
    for _ in range(MAX + 1):
        with pytest.raises(WeakPassword):
            service.change_password(caller_of(mine), WRONG, "short")
    assert users.reservations == reservations
    assert users.failures.get(ANN) is None
    with pytest.raises(WeakPassword):
        service.change_password(caller_of(mine), PASSWORD, ANN.upper())  # the email itself
    assert service.change_password(caller_of(mine), PASSWORD, NEW)


def test_wrong_current_passwords_at_change_and_delete_count_toward_the_lock_out(
    service: Flows, clock: Clock, users: FakeUsers
) -> None:
    mine = login(service)
    with pytest.raises(LoginFailed):
        service.change_password(caller_of(mine), WRONG, NEW)
    with pytest.raises(LoginFailed):
        service.delete_account(caller_of(mine), WRONG)
    with pytest.raises(LoginFailed) as last:
        service.change_password(caller_of(mine), WRONG, NEW)
    assert last.value.locked is True
    assert users.failures[ANN] == FailedLogins(MAX, int(clock.now))
    # locked: even the right password, at each of them
    with pytest.raises(TooManyAttempts):
        service.change_password(caller_of(mine), PASSWORD, NEW)
    with pytest.raises(TooManyAttempts):
        service.delete_account(caller_of(mine), PASSWORD)
    with pytest.raises(TooManyAttempts):
        login(service)
    assert users.get_by_email(ANN) is not None
    clock.now += 300
    assert service.change_password(caller_of(mine), PASSWORD, NEW)


def test_a_change_by_a_token_whose_account_was_replaced_is_refused(service: Flows) -> None:
    old = login(service)
    service.delete_account(caller_of(old), PASSWORD)
    service.signup_verified(ANN, PASSWORD)  # the same password, another account
    with pytest.raises(InvalidCredentials):
        service.change_password(caller_of(old), PASSWORD, NEW)
    with pytest.raises(InvalidCredentials):
        service.delete_account(caller_of(old), PASSWORD)
    assert login(service, password=PASSWORD).access_token


def test_a_lost_notice_leaves_the_change_standing(service: Flows) -> None:
    mine = login(service)
    service.mail.failing = True
    assert service.change_password(caller_of(mine), PASSWORD, NEW) is False
    assert login(service, password=NEW).access_token


# --- account deletion ----------------------------------------------------------------------


def test_deleting_the_account_then_signing_up_again_with_the_same_email(
    service: Flows, users: FakeUsers
) -> None:
    grant = login(service)
    rotated = service.refresh(grant.refresh_token, issuer=ISSUER)
    with pytest.raises(LoginFailed):
        login(service, password=WRONG)
    old_id = grant.user_id
    assert service.delete_account(caller_of(grant), PASSWORD) is True
    assert [job.kind for job in service.mail.take()] == [MailKind.ACCOUNT_DELETED]
    assert users.get_by_email(ANN) is None
    assert users.failures.get(ANN) is None
    assert refreshes(service, rotated) == "account_changed"
    with pytest.raises(InvalidCredentials):
        login(service)
    # the address signs up again at once, as a new account; the old sessions stay refused
    again = service.signup_verified(ANN, NEW)
    assert again.user_id != old_id
    new = login(service, password=NEW)
    assert refreshes(service, rotated) == "conflict"  # revoked by its last refusal
    assert refreshes(service, new) == "ok"
    assert service.list_sessions(caller_of(rotated)) == []


def test_a_wrong_password_deletes_nothing(service: Flows, users: FakeUsers) -> None:
    grant = login(service)
    with pytest.raises(LoginFailed):
        service.delete_account(caller_of(grant), WRONG)
    assert users.get_by_email(ANN) is not None
    assert refreshes(service, grant) == "ok"
    assert service.mail.take() == []


def test_a_deletion_racing_a_password_change_loses(service: Flows, users: FakeUsers) -> None:
    grant = login(service)
    users.once_before(
        "delete_account", lambda: service.change_password(caller_of(grant), PASSWORD, NEW)
    )
    with pytest.raises(InvalidCredentials):
        service.delete_account(caller_of(grant), PASSWORD)
    assert users.get_by_email(ANN) is not None
    assert login(service, password=NEW).access_token


# --- found by the attacker review ------------------------------------------------------------


def test_a_password_change_racing_logout_all_never_brings_the_changers_session_back(
    service: Flows, users: FakeUsers
) -> None:
    """The change has read the account (its session listed); logout-all lands before the
    change writes. Writing the read entry back would revive a session after logout-all
    answered: the change reads again and keeps only what is still listed (nothing)."""
    changer, other = login(service), login(service)
    users.once_before("change_password", lambda: service.logout_all(caller_of(other)))
    service.change_password(caller_of(changer), PASSWORD, NEW)
    assert service.list_sessions(caller_of(changer)) == []
    assert refreshes(service, changer) == "account_changed"
    assert refreshes(service, other) == "account_changed"
    assert login(service, password=NEW).access_token  # the change itself stands


def test_the_right_password_on_a_token_that_outlived_its_account_counts_no_failure(
    service: Flows, users: FakeUsers
) -> None:
    """An app retrying a change with an old account's token and the right password
    (the email signed up again with it) must not lock the new owner out."""
    old = login(service)
    service.delete_account(caller_of(old), PASSWORD)
    service.signup_verified(ANN, PASSWORD)
    for _ in range(MAX + 2):
        with pytest.raises(InvalidCredentials):
            service.change_password(caller_of(old), PASSWORD, NEW)
    assert users.failures.get(ANN) is None
    assert login(service).access_token  # the owner logs in, no lock-out


def test_the_loser_of_two_changes_is_not_counted_as_a_failed_login(
    service: Flows, users: FakeUsers
) -> None:
    mine, theirs = login(service), login(service)
    users.once_before(
        "change_password", lambda: service.change_password(caller_of(theirs), PASSWORD, OTHER)
    )
    with pytest.raises(InvalidCredentials):
        service.change_password(caller_of(mine), PASSWORD, NEW)
    assert users.failures.get(ANN) is None
