"""Refresh: rotate the refresh token and hand out a new access token."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from stateless_auth.config import Settings
from stateless_auth.domain.errors import DependencyUnavailable, RefreshRejected
from stateless_auth.domain.ports import SessionStore, UserStore
from stateless_auth.domain.sessions import (
    AccountChanged,
    RotationConflict,
    TokenGrant,
    TokenRecord,
    TokenState,
)
from stateless_auth.tokens.keys import SigningKey
from stateless_auth.tokens.refresh_tokens import hash_refresh_token, new_refresh_token
from stateless_auth.usecases.grants import grant_tokens


def refresh(
    refresh_token: str,
    *,
    sessions: SessionStore,
    users: UserStore,
    signing_key: Callable[[], SigningKey],
    issuer: str,
    settings: Settings,
    clock: Callable[[], float] = time.time,
) -> TokenGrant:
    """Rotate the refresh token; a replayed (already rotated) one revokes its session.

    RefreshRejected (an InvalidToken) with its reason: unknown, reuse, not_current,
    expired, conflict (a concurrent refresh of the same token won, or the session was
    revoked meanwhile), or account_changed (the account is gone, or no longer lists the
    session: logout-all, a password change or reset, the session ended from the list).

    The rotation checks the account in the same transaction: its id, its sessions epoch,
    that it still lists the session, and the claims the token carries. Claims that moved on (an email verified since the
    session opened) cost one more read and a second rotation, with the account's claims.
    """
    now = int(clock())
    record = sessions.find_token(hash_refresh_token(refresh_token))
    if record is None:
        raise RefreshRejected("unknown")
    if record.state == TokenState.USED:
        sessions.revoke(record, now=now)
        raise RefreshRejected("reuse", record.session_id)
    if record.state != TokenState.CURRENT:
        raise RefreshRejected("not_current", record.session_id)
    if record.session_expires_at <= now:
        raise RefreshRejected("expired", record.session_id)
    # Before rotating: a rotation whose new token cannot be handed out would turn the
    # client's next attempt into a replay and revoke its session.
    key = signing_key()
    new_token = new_refresh_token()
    new_hash = hash_refresh_token(new_token)
    try:
        try:
            new_record = _rotate(sessions, record, new_hash, now=now)
        except AccountChanged:
            user = users.get_by_email(record.email)
            if (
                user is None
                or user.user_id != record.user_id
                or user.sessions_epoch != record.sessions_epoch
                or all(s.session_id != record.session_id for s in user.sessions)
            ):
                # Gone, reset, or no longer listed (ended alone or with all the others).
                sessions.revoke(record, now=now)
                raise RefreshRejected("account_changed", record.session_id) from None
            record = dataclasses.replace(
                record, email_verified=user.email_verified, roles=user.roles
            )
            new_record = _rotate(sessions, record, new_hash, now=now)
    except RotationConflict:
        # Lost a race with a concurrent refresh of the same token, or the session was
        # revoked or expired meanwhile. The caller read it as current, so this is not a
        # replay: refuse without revoking the winner's session.
        raise RefreshRejected("conflict", record.session_id) from None
    return grant_tokens(new_record, new_token, key=key, issuer=issuer, settings=settings, now=now)


def _rotate(sessions: SessionStore, record: TokenRecord, new_hash: str, *, now: int) -> TokenRecord:
    """`sessions.rotate`, and what a failed rotation really did. A 503 sends the client
    back with the same token; were the rotation in fact done (its reply lost after the
    commit) or lost to a concurrent one (DynamoDB may cancel the loser with a conflict,
    not our condition), that retry would present a used token, a replay, and revoke the
    session. So on a fault, read the token again: still current, nothing happened (the
    503 stands, and the retry is safe); used, and our successor is there, it was ours
    (hand it out); used by another rotation, a lost race (401, nothing revoked)."""
    try:
        return sessions.rotate(record, new_hash, now=now)
    except DependencyUnavailable:
        old = sessions.find_token(record.token_hash)  # a second fault: the 503 stands
        if old is None or old.state == TokenState.CURRENT:
            raise
        ours = sessions.find_token(new_hash)
        if ours is not None and ours.session_id == record.session_id:
            return ours
        raise RotationConflict(record.session_id) from None
