"""Keys and verifiers the tests control."""

from __future__ import annotations

from stateless_auth.tokens.access import AccessTokenVerifier
from stateless_auth.tokens.keys import KeySet, PublicKeyStore

ISSUER = "https://auth.example.test"
AUDIENCE = "stateless-auth-test"


def store_for(key_set: KeySet, **kwargs: float) -> PublicKeyStore:
    store = PublicKeyStore(key_set.public_jwks_string, **kwargs)
    store.load()
    return store


def verifier_for(key_set: KeySet) -> AccessTokenVerifier:
    return AccessTokenVerifier(store_for(key_set), audience=AUDIENCE)
