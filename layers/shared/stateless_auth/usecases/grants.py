"""The tokens a login or a refresh hands out for a session: an access token signed with
the current key and the refresh token that was just stored."""

from __future__ import annotations

from stateless_auth.config import Settings
from stateless_auth.domain.sessions import TokenGrant, TokenRecord
from stateless_auth.tokens.access import issue_access_token
from stateless_auth.tokens.keys import SigningKey


def grant_tokens(
    record: TokenRecord,
    refresh_token: str,
    *,
    key: SigningKey,
    issuer: str,
    settings: Settings,
    now: int,
) -> TokenGrant:
    """An access token for the session of `record`, with `refresh_token` beside it."""
    access = issue_access_token(
        key,
        subject=record.user_id,
        email=record.email,
        roles=list(record.roles),
        issuer=issuer,
        audience=settings.jwt_audience,
        ttl=settings.access_token_ttl,
        session_id=record.session_id,
        email_verified=record.email_verified,
        amr=record.amr,
        now=now,
    )
    return TokenGrant(
        access_token=access.token,
        expires_in=access.expires_in,
        refresh_token=refresh_token,
        refresh_expires_in=max(0, record.session_expires_at - now),
        user_id=record.user_id,
        session_id=record.session_id,
    )
