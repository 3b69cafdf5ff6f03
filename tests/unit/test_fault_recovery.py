"""What a refresh and a login do when a store fails around their write (found by the
issue-13 review): a 503 sends the client back with the same refresh token, so a refresh
must find out whether its rotation in fact landed (a reply lost after the commit) or lost
a race (DynamoDB may cancel the loser with a conflict, which reads as a fault), or the
retry would be a replay and revoke the session; and a login whose store failed after the
right password must not leave that attempt counted."""

from __future__ import annotations

from typing import Any

import pytest

from stateless_auth.domain.errors import DependencyUnavailable, RefreshRejected
from stateless_auth.domain.sessions import TokenGrant
from tests.support.fakes import FakeSessions, FakeUsers, Flows
from tests.support.flows import flows_over
from tests.support.settings import ISSUER

ANN = "ann@example.com"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def users() -> FakeUsers:
    return FakeUsers()


@pytest.fixture
def sessions(users: FakeUsers) -> FakeSessions:
    return FakeSessions(users)


@pytest.fixture
def service(users: FakeUsers, sessions: FakeSessions) -> Flows:
    flows = flows_over(users, sessions=sessions, MAX_FAILED_LOGINS="3")
    flows.signup_verified(ANN, PASSWORD)
    return flows


def login(service: Flows) -> TokenGrant:
    return service.login(ANN, PASSWORD, issuer=ISSUER)


def refreshes(service: Flows, token: str) -> str:
    try:
        service.refresh(token, issuer=ISSUER)
    except RefreshRejected as rejected:
        return rejected.reason
    return "ok"


def test_a_rotation_whose_reply_was_lost_after_the_commit_hands_out_its_token(
    service: Flows, sessions: FakeSessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant = login(service)
    rotate = sessions.rotate

    def committed_then_timed_out(*args: Any, **kwargs: Any) -> Any:
        rotate(*args, **kwargs)
        raise DependencyUnavailable("read timeout after the commit")

    monkeypatch.setattr(sessions, "rotate", committed_then_timed_out)
    rotated = service.refresh(grant.refresh_token, issuer=ISSUER)
    monkeypatch.undo()
    assert refreshes(service, rotated.refresh_token) == "ok"  # the token handed out works
    assert grant.session_id not in sessions.revoked


def test_a_rotation_that_lost_a_race_reported_as_a_fault_revokes_nothing(
    service: Flows, sessions: FakeSessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant = login(service)
    rotate = sessions.rotate
    winner: list[TokenGrant] = []

    def a_concurrent_refresh_won(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(sessions, "rotate", rotate)
        winner.append(service.refresh(grant.refresh_token, issuer=ISSUER))
        raise DependencyUnavailable("cancelled: TransactionConflict")

    monkeypatch.setattr(sessions, "rotate", a_concurrent_refresh_won)
    with pytest.raises(RefreshRejected) as lost:
        service.refresh(grant.refresh_token, issuer=ISSUER)
    assert lost.value.reason == "conflict"  # a 401, not a replay
    assert grant.session_id not in sessions.revoked
    assert refreshes(service, winner[0].refresh_token) == "ok"


def test_a_rotation_that_failed_before_writing_is_a_503_and_the_retry_works(
    service: Flows, sessions: FakeSessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant = login(service)

    def throttled(*args: Any, **kwargs: Any) -> Any:
        raise DependencyUnavailable("throttled")

    monkeypatch.setattr(sessions, "rotate", throttled)
    with pytest.raises(DependencyUnavailable):
        service.refresh(grant.refresh_token, issuer=ISSUER)
    monkeypatch.undo()
    assert refreshes(service, grant.refresh_token) == "ok"  # the same token, as asked


def test_a_login_whose_session_write_failed_counts_no_failed_login(
    service: Flows, users: FakeUsers, sessions: FakeSessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise DependencyUnavailable("throttled")

    monkeypatch.setattr(sessions, "create", unavailable)
    for _ in range(5):  # more than MAX_FAILED_LOGINS, following Retry-After
        with pytest.raises(DependencyUnavailable):
            login(service)
    assert users.failures.get(ANN) is None
    monkeypatch.undo()
    assert login(service).access_token  # no lock-out
