"""The auth use cases against in-memory repositories: rotation, reuse, expiry, races."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from stateless_auth.domain.errors import (
    InvalidCredentials,
    InvalidRequest,
    RefreshRejected,
    WeakPassword,
)
from stateless_auth.domain.sessions import RotationConflict
from stateless_auth.tokens.keys import KeySet
from stateless_auth.tokens.refresh_tokens import hash_refresh_token
from tests.support.clock import Clock
from tests.support.fakes import FakeSessions, FakeUsers, Flows
from tests.support.flows import flows_over
from tests.support.settings import ISSUER
from tests.support.tokens import verifier_for

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def key_set() -> KeySet:
    return KeySet.generate()


@pytest.fixture
def sessions(users: FakeUsers) -> FakeSessions:
    return FakeSessions(users)


@pytest.fixture
def service(key_set: KeySet, clock: Clock, users: FakeUsers, sessions: FakeSessions) -> Flows:
    svc = flows_over(
        users, sessions=sessions, key_set=key_set, clock=clock, REFRESH_TOKEN_TTL_SECONDS="3600"
    )
    svc.signup_verified("Ann@Example.com", PASSWORD)
    return svc


def test_signup_normalises_email_and_a_taken_one_changes_nothing(
    service: Flows, users: FakeUsers
) -> None:
    ann = users.get_by_email("ann@example.com")
    assert service.signup("  ann@example.COM ", PASSWORD) == "ann@example.com"
    # fullwidth: NFKC folds it
    assert service.signup("ａｎｎ@example.com", "another long passphrase") == "ann@example.com"
    assert users.get_by_email("ann@example.com") == ann
    assert [job.kind for job in service.mail.take()] == ["signup_attempt", "signup_attempt"]


def test_signup_password_policy(service: Flows) -> None:
    with pytest.raises(WeakPassword, match="at least 15"):
        service.signup("bob@example.com", "short")
    with pytest.raises(WeakPassword, match="at most 128"):
        service.signup("bob@example.com", "x" * 129)
    with pytest.raises(InvalidRequest):
        service.signup("not-an-email", PASSWORD)


def test_login_issues_a_verifiable_token(service: Flows, key_set: KeySet) -> None:
    grant = service.login("ANN@example.com", PASSWORD, issuer=ISSUER)
    claims = verifier_for(key_set).verify(grant.access_token, issuer=ISSUER)
    assert claims["sub"] == grant.user_id
    assert claims["email"] == "ann@example.com"
    assert grant.expires_in == 900
    assert grant.refresh_expires_in == 3600


def test_login_failures_are_indistinguishable(service: Flows) -> None:
    with pytest.raises(InvalidCredentials) as wrong:
        service.login("ann@example.com", "wrong password here!!", issuer=ISSUER)
    with pytest.raises(InvalidCredentials) as unknown:
        service.login("nobody@example.com", PASSWORD, issuer=ISSUER)
    assert wrong.value.message == unknown.value.message


def test_refresh_rotates_and_keeps_the_absolute_expiry(service: Flows, clock: Clock) -> None:
    first = service.login("ann@example.com", PASSWORD, issuer=ISSUER)
    clock.now += 1000
    second = service.refresh(first.refresh_token, issuer=ISSUER)
    assert second.refresh_token != first.refresh_token
    assert second.session_id == first.session_id
    assert second.refresh_expires_in == 3600 - 1000
    clock.now += 2599
    third = service.refresh(second.refresh_token, issuer=ISSUER)
    assert third.refresh_expires_in == 1
    clock.now += 1
    with pytest.raises(RefreshRejected) as expired:
        service.refresh(third.refresh_token, issuer=ISSUER)
    assert expired.value.reason == "expired"


def test_reuse_of_a_rotated_token_revokes_the_whole_session(
    service: Flows, sessions: FakeSessions
) -> None:
    first = service.login("ann@example.com", PASSWORD, issuer=ISSUER)
    second = service.refresh(first.refresh_token, issuer=ISSUER)
    with pytest.raises(RefreshRejected) as reuse:
        service.refresh(first.refresh_token, issuer=ISSUER)
    assert reuse.value.reason == "reuse"
    assert first.session_id in sessions.revoked
    with pytest.raises(RefreshRejected):  # the newest token dies with the session
        service.refresh(second.refresh_token, issuer=ISSUER)


def test_reuse_leaves_other_sessions_alone(service: Flows) -> None:
    a = service.login("ann@example.com", PASSWORD, issuer=ISSUER)
    b = service.login("ann@example.com", PASSWORD, issuer=ISSUER)
    service.refresh(a.refresh_token, issuer=ISSUER)
    with pytest.raises(RefreshRejected):
        service.refresh(a.refresh_token, issuer=ISSUER)
    assert service.refresh(b.refresh_token, issuer=ISSUER).session_id == b.session_id


def test_unknown_token_is_rejected(service: Flows) -> None:
    with pytest.raises(RefreshRejected) as unknown:
        service.refresh("not-a-token", issuer=ISSUER)
    assert unknown.value.reason == "unknown"


def test_logout_revokes_and_unknown_logout_is_quiet(service: Flows, sessions: FakeSessions) -> None:
    grant = service.login("ann@example.com", PASSWORD, issuer=ISSUER)
    assert service.logout(grant.refresh_token) == grant.session_id
    assert grant.session_id in sessions.revoked
    with pytest.raises(RefreshRejected):
        service.refresh(grant.refresh_token, issuer=ISSUER)
    assert service.logout("never-issued") is None


def test_two_refreshes_that_read_before_either_writes_have_one_winner(
    service: Flows, sessions: FakeSessions
) -> None:
    """Deterministic interleaving: A reads, B reads, A writes, B writes."""
    grant = service.login("ann@example.com", PASSWORD, issuer=ISSUER)
    token_hash = hash_refresh_token(grant.refresh_token)
    read_a = sessions.find_token(token_hash)
    read_b = sessions.find_token(token_hash)
    assert read_a is not None
    assert read_b is not None
    sessions.rotate(read_a, "new-a", now=int(time.time()))
    with pytest.raises(RotationConflict):
        sessions.rotate(read_b, "new-b", now=int(time.time()))


def test_concurrent_refreshes_at_the_service_have_one_winner(
    service: Flows, sessions: FakeSessions
) -> None:
    """Both threads are held after their read until both have read, then both write."""
    grant = service.login("ann@example.com", PASSWORD, issuer=ISSUER)
    both_read = threading.Barrier(2)
    original = sessions.find_token

    def find_then_wait(token_hash: str):  # type: ignore[no-untyped-def]
        record = original(token_hash)
        both_read.wait(timeout=5)
        return record

    sessions.find_token = find_then_wait  # type: ignore[method-assign]
    results: list[str] = []

    def attempt() -> None:
        try:
            service.refresh(grant.refresh_token, issuer=ISSUER)
            results.append("ok")
        except RefreshRejected as rejected:
            results.append(rejected.reason)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["conflict", "ok"]
    assert grant.session_id not in sessions.revoked  # a lost race is not a replay


def test_look_alike_emails_never_reach_another_account(service: Flows) -> None:
    cyrillic = "\u0430nn@example.com"  # Cyrillic a, looks like ann@example.com
    with pytest.raises(InvalidCredentials):
        service.login(cyrillic, PASSWORD, issuer=ISSUER)
    service.signup(cyrillic, "another long passphrase here")
    # A local part outside ASCII cannot be mailed (SES), so no link verifies it: mark it.
    other = replace(service.users.items[cyrillic], email_verified=True)
    service.users.items[cyrillic] = other
    ann = service.login("ann@example.com", PASSWORD, issuer=ISSUER)
    assert other.user_id != ann.user_id


def test_a_key_outage_changes_nothing_and_never_revokes(
    service: Flows, sessions: FakeSessions, key_set: KeySet
) -> None:
    from stateless_auth.domain.errors import KeySetError

    grant = service.login("ann@example.com", PASSWORD, issuer=ISSUER)
    healthy = service.signing_key

    def outage() -> Any:
        raise KeySetError("the extension is unreachable")

    service.signing_key = outage
    tokens_before = dict(sessions.tokens)
    with pytest.raises(KeySetError):
        service.login("ann@example.com", PASSWORD, issuer=ISSUER)
    with pytest.raises(KeySetError):
        service.refresh(grant.refresh_token, issuer=ISSUER)
    assert sessions.tokens == tokens_before  # no orphan session, no rotation
    service.signing_key = healthy
    # the same refresh token still works: the failed attempt was not a replay
    assert service.refresh(grant.refresh_token, issuer=ISSUER).session_id == grant.session_id
