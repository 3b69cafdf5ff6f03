"""The caller's sessions: list them, end one, end them all (CONTRACT §3, §5)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from stateless_auth.domain.accounts import Caller
from stateless_auth.domain.errors import NotFound
from stateless_auth.domain.ports import SessionStore, UserStore
from stateless_auth.domain.sessions import SessionInfo, listed

# Session ids are UUIDs; anything else is no session of anyone's.
_SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def list_sessions(
    caller: Caller, *, users: UserStore, clock: Callable[[], float] = time.time
) -> list[SessionInfo]:
    """The sessions of the caller's account that can still refresh, newest first (one
    strongly consistent read of the account, which lists them)."""
    user = users.get_by_email(caller.email)
    if user is None or user.user_id != caller.user_id:
        return []  # an access token that outlived its account
    return listed(user.sessions, now=int(clock()))


def end_session(
    caller: Caller,
    session_id: str,
    *,
    sessions: SessionStore,
    clock: Callable[[], float] = time.time,
) -> None:
    """End one of the caller's sessions; NotFound for an unknown id and for another
    user's, alike (the same answer, and nothing changes)."""
    if not _SESSION_ID.fullmatch(session_id) or not sessions.end_session(
        caller.email, caller.user_id, session_id, now=int(clock())
    ):
        raise NotFound("no such session")


def log_out_everywhere(caller: Caller, *, sessions: SessionStore) -> None:
    """End every session of the caller's account, its own included."""
    sessions.end_all_sessions(caller.email, caller.user_id)
