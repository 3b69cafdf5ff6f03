"""The sessions and account routes as an attacker sees them, over the in-memory stores:
someone holding another user's session id, a stolen refresh token, an access token that
outlived its account, or an access token without the password.

Only protections that hold are here (as in test_email_attacks.py).
"""

from __future__ import annotations

import uuid
from functools import partial

import pytest

from stateless_auth.domain.errors import (
    InvalidCredentials,
    LoginFailed,
    NotFound,
    RefreshRejected,
    TooManyAttempts,
)
from stateless_auth.domain.sessions import TokenGrant
from tests.support.clock import Clock
from tests.support.fakes import FakeUsers, Flows, caller_of
from tests.support.flows import flows_over
from tests.support.settings import ISSUER

VICTIM = "victim@example.com"
ATTACKER = "mallory@example.com"
PASSWORD = "the victim's own long passphrase"
MALLORY_PASSWORD = "mallory's own long passphrase"
NEW = "the victim's brand new passphrase"
MAX = 5


@pytest.fixture
def service() -> Flows:
    flows = flows_over(
        FakeUsers(), clock=Clock.wall(whole_seconds=True), MAX_FAILED_LOGINS=str(MAX)
    )
    flows.signup_verified(VICTIM, PASSWORD)
    flows.signup_verified(ATTACKER, MALLORY_PASSWORD)
    return flows


def login(service: Flows, email: str = VICTIM, password: str = PASSWORD) -> TokenGrant:
    return service.login(email, password, issuer=ISSUER)


def test_session_ids_cannot_be_probed_or_ended_across_accounts(service: Flows) -> None:
    """Mallory, knowing (or guessing) the victim's session id, learns nothing: the answer
    is the one for a random id, and the victim's session lives on."""
    victim, mallory = login(service), login(service, ATTACKER, MALLORY_PASSWORD)
    answers = []
    for session_id in (victim.session_id, str(uuid.uuid4()), "x" * 36):
        with pytest.raises(NotFound) as refused:
            service.end_session(caller_of(mallory), session_id)
        answers.append((type(refused.value), refused.value.message))
    assert len(set(answers)) == 1
    assert [s.session_id for s in service.list_sessions(caller_of(victim))] == [victim.session_id]
    assert service.refresh(victim.refresh_token, issuer=ISSUER).session_id == victim.session_id


def test_a_stolen_refresh_token_dies_with_logout_all_even_if_used_first(service: Flows) -> None:
    """The thief refreshes first; the victim then logs out everywhere: the thief's
    newest token is refused, and so is the one stolen."""
    stolen = login(service)
    victim = login(service)
    thief = service.refresh(stolen.refresh_token, issuer=ISSUER)
    service.logout_all(caller_of(victim))
    for grant in (thief, stolen, victim):
        with pytest.raises(RefreshRejected):
            service.refresh(grant.refresh_token, issuer=ISSUER)


def test_a_stolen_session_is_ended_by_the_victims_password_change(service: Flows) -> None:
    stolen, victim = login(service), login(service)
    service.change_password(caller_of(victim), PASSWORD, NEW)
    with pytest.raises(RefreshRejected) as refused:
        service.refresh(stolen.refresh_token, issuer=ISSUER)
    assert refused.value.reason == "account_changed"
    with pytest.raises(InvalidCredentials):  # nor can the thief log in with the old one
        login(service)


def test_an_access_token_alone_cannot_change_the_password_or_delete(service: Flows) -> None:
    """With a stolen access token but not the password, at most MAX guesses (shared with
    login's budget for the email), then a lock-out; nothing changed."""
    stolen = login(service)
    caller = caller_of(stolen)
    guesses = [
        partial(service.change_password, caller, f"guess {i} of it", NEW)
        if i % 2
        else partial(service.delete_account, caller, f"guess {i} of it")
        for i in range(MAX)
    ]  # alternately at the change and the deletion
    for guess in guesses:
        with pytest.raises(LoginFailed):
            guess()
    with pytest.raises(TooManyAttempts):
        service.delete_account(caller_of(stolen), PASSWORD)
    with pytest.raises(TooManyAttempts):
        login(service)
    assert service.users.get_by_email(VICTIM) is not None


def test_an_access_token_that_outlived_its_account_cannot_touch_the_next_one(
    service: Flows,
) -> None:
    """The victim deleted the account and signed up again (same address, same password):
    a token of the old account lists nothing, ends nothing, changes and deletes nothing."""
    old = login(service)
    service.delete_account(caller_of(old), PASSWORD)
    service.signup_verified(VICTIM, PASSWORD)
    new = login(service)
    assert service.list_sessions(caller_of(old)) == []
    with pytest.raises(NotFound):
        service.end_session(caller_of(old), new.session_id)
    with pytest.raises(InvalidCredentials):
        service.change_password(caller_of(old), PASSWORD, NEW)
    with pytest.raises(InvalidCredentials):
        service.delete_account(caller_of(old), PASSWORD)
    service.logout_all(caller_of(old))  # answers as usual, and ends nothing of the new one
    assert [s.session_id for s in service.list_sessions(caller_of(new))] == [new.session_id]
    assert service.refresh(new.refresh_token, issuer=ISSUER).session_id == new.session_id
