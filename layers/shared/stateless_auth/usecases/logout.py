"""Log out: revoke the session of a refresh token."""

from __future__ import annotations

import time
from collections.abc import Callable

from stateless_auth.domain.ports import SessionStore
from stateless_auth.tokens.refresh_tokens import hash_refresh_token


def log_out(
    refresh_token: str,
    *,
    sessions: SessionStore,
    clock: Callable[[], float] = time.time,
) -> str | None:
    """Revoke the token's session; the session id, or None for an unknown token."""
    record = sessions.find_token(hash_refresh_token(refresh_token))
    if record is None:
        return None
    sessions.revoke(record, now=int(clock()))
    return record.session_id
