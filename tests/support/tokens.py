"""Access tokens signed with the keys a test controls, and verifiers that trust them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from stateless_auth.domain.errors import TokenVerificationError
from stateless_auth.tokens.access import AccessTokenVerifier, issue_access_token
from stateless_auth.tokens.keys import (
    UNKNOWN_KID_COOLDOWN_SECONDS,
    KeySet,
    PublicKeyStore,
    SigningKey,
)
from tests.support.settings import AUDIENCE, ISSUER


def mint(
    key: SigningKey | KeySet,
    *,
    subject: str = "u1",
    session_id: str = "s1",
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
    ttl: int = 900,
    email: str = "ann@example.com",
    roles: Sequence[str] = ("user",),
    email_verified: bool = False,
    now: float | None = None,
) -> str:
    """A compact access token as the login function issues it (a key set signs with its
    current key)."""
    signing_key = key.current if isinstance(key, KeySet) else key
    return issue_access_token(
        signing_key,
        subject=subject,
        email=email,
        roles=list(roles),
        issuer=issuer,
        audience=audience,
        ttl=ttl,
        session_id=session_id,
        email_verified=email_verified,
        now=now,
    ).token


def mint_fresh(key: SigningKey | KeySet, *, issuer: str = ISSUER, audience: str = AUDIENCE) -> str:
    """A token no verifier has seen: a subject and a session of its own."""
    return mint(
        key,
        subject=str(uuid.uuid4()),
        session_id=str(uuid.uuid4()),
        issuer=issuer,
        audience=audience,
    )


def store_for(
    key_set: KeySet,
    *,
    refresh_seconds: float = 300.0,
    cooldown_seconds: float = UNKNOWN_KID_COOLDOWN_SECONDS,
) -> PublicKeyStore:
    """A key store over the key set's public JWKS, loaded."""
    store = PublicKeyStore(
        key_set.public_jwks_string,
        refresh_seconds=refresh_seconds,
        cooldown_seconds=cooldown_seconds,
    )
    store.load()
    return store


def verifier_for(key_set: KeySet, *, audience: str = AUDIENCE) -> AccessTokenVerifier:
    """A verifier that trusts exactly the key set's public keys."""
    return AccessTokenVerifier(store_for(key_set), audience=audience)


def verifies(verifier: AccessTokenVerifier, token: str, *, issuer: str = ISSUER) -> bool:
    """Whether the verifier accepts the token."""
    try:
        verifier.verify(token, issuer=issuer)
    except TokenVerificationError:
        return False
    return True
