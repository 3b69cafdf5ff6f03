"""The authorizer's decision and its cache of verified tokens."""

from __future__ import annotations

from typing import Any

import pytest

from stateless_auth.tokens.access import AccessTokenVerifier
from stateless_auth.tokens.authorizer import Authorizer, VerifiedTokenCache, bearer_token
from stateless_auth.tokens.keys import KeySet, PublicKeyStore
from tests.support.clock import Clock
from tests.support.settings import AUDIENCE, ISSUER
from tests.support.tokens import mint


class CountingVerifier(AccessTokenVerifier):
    calls = 0

    def verify(self, token: str, *, issuer: str) -> dict[str, Any]:
        self.calls += 1
        return super().verify(token, issuer=issuer)


def event(token: str | None, host: str = "auth.example.test") -> dict[str, Any]:
    headers = {"x-forwarded-proto": "https", "host": host}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return {"headers": headers, "requestContext": {"domainName": host}}


@pytest.fixture
def clock() -> Clock:
    return Clock.wall()


@pytest.fixture
def documents() -> list[str]:
    return [KeySet.generate().public_jwks_string()]


def build(
    documents: list[str], clock: Clock, **cache: int
) -> tuple[Authorizer, CountingVerifier, PublicKeyStore]:
    store = PublicKeyStore(lambda: documents[-1], refresh_seconds=300, cooldown_seconds=0)
    verifier = CountingVerifier(store, audience=AUDIENCE, clock=clock)
    authorizer = Authorizer(
        verifier, issuer=lambda: ISSUER, cache=VerifiedTokenCache(clock=clock, **cache)
    )
    return authorizer, verifier, store


def test_bearer_token_parsing() -> None:
    assert bearer_token({"authorization": "Bearer abc"}) == "abc"
    assert bearer_token({"Authorization": "bearer  abc "}) == "abc"
    assert bearer_token({"authorization": "Basic abc"}) is None
    assert bearer_token({"authorization": "Bearer"}) is None
    assert bearer_token({}) is None


def test_a_verified_token_is_served_from_the_cache(clock: Clock) -> None:
    key_set = KeySet.generate()
    authorizer, verifier, _ = build([key_set.public_jwks_string()], clock)
    token = mint(key_set)
    first, reason = authorizer.decide(event(token))
    assert reason == "verified"
    assert first["isAuthorized"] is True
    assert first["context"]["sub"] == "u1"
    for _ in range(5):
        again, reason = authorizer.decide(event(token))
        assert again == first
        assert reason == "cached"
    assert verifier.calls == 1


def test_the_cache_never_outlives_exp(clock: Clock) -> None:
    key_set = KeySet.generate()
    authorizer, _verifier, _ = build([key_set.public_jwks_string()], clock)
    token = mint(key_set, ttl=60, now=clock.now)
    assert authorizer.decide(event(token))[0]["isAuthorized"]
    clock.now += 59
    assert authorizer.decide(event(token))[1] == "cached"
    clock.now += 1  # at exp the entry is gone: the token is checked afresh
    assert authorizer.decide(event(token))[1] == "verified"
    assert authorizer.decide(event(token))[1] == "verified"  # and not cached again


def test_the_cache_is_emptied_when_the_key_set_changes(clock: Clock) -> None:
    key_set = KeySet.generate()
    documents = [key_set.public_jwks_string()]
    authorizer, _verifier, store = build(documents, clock)
    token = mint(key_set)
    assert authorizer.decide(event(token))[0]["isAuthorized"]
    documents.append(key_set.rotated().rotated().rotated().public_jwks_string())
    store.load()  # what the scheduled re-read does
    decision, _ = authorizer.decide(event(token))
    assert decision == {"isAuthorized": False}  # its key left the set


@pytest.mark.parametrize("host", ["auth.example.test", "other.example.test", "abc.execute-api"])
def test_a_token_verifies_on_any_domain(clock: Clock, host: str) -> None:
    # Issue 8 finding 3: the issuer was the request's domain, so a token was denied on a
    # custom domain or another stack's API, and a cached decision could cross domains.
    key_set = KeySet.generate()
    authorizer, verifier, _ = build([key_set.public_jwks_string()], clock)
    token = mint(key_set)
    decision, reason = authorizer.decide(event(token, host=host))
    assert decision["isAuthorized"], reason
    assert verifier.calls == 1  # not cached from another domain: verified here


def test_a_token_from_another_issuer_is_denied_whatever_the_domain(clock: Clock) -> None:
    key_set = KeySet.generate()
    authorizer, _, _ = build([key_set.public_jwks_string()], clock)
    foreign = mint(key_set, issuer="https://evil.example")
    assert authorizer.decide(event(foreign, host="evil.example"))[0] == {"isAuthorized": False}


def test_the_context_never_claims_an_unverified_email(clock: Clock) -> None:
    key_set = KeySet.generate()
    authorizer, _, _ = build([key_set.public_jwks_string()], clock)
    decision, _ = authorizer.decide(event(mint(key_set)))
    assert decision["context"]["email_verified"] is False


def test_the_context_carries_the_session_id(clock: Clock) -> None:
    key_set = KeySet.generate()
    authorizer, _, _ = build([key_set.public_jwks_string()], clock)
    decision, _ = authorizer.decide(event(mint(key_set)))
    assert decision["context"]["sid"] == "s1"


def test_the_cache_cannot_grow_without_bound(clock: Clock) -> None:
    key_set = KeySet.generate()
    authorizer, _, _ = build([key_set.public_jwks_string()], clock, max_entries=16)
    tokens = [mint(key_set) for _ in range(50)]
    for token in tokens:
        assert authorizer.decide(event(token))[0]["isAuthorized"]
    cache = authorizer._cache
    assert len(cache) <= 16
    assert authorizer.decide(event(tokens[-1]))[1] == "cached"  # newest kept


def test_expired_entries_are_evicted_first(clock: Clock) -> None:
    cache = VerifiedTokenCache(4, clock=clock)
    for i in range(3):
        cache.put(f"short{i}", ISSUER, 0, {"i": i}, int(clock.now) + 1)
    cache.put("long", ISSUER, 0, {"i": "long"}, int(clock.now) + 1000)
    clock.now += 2
    cache.put("new", ISSUER, 0, {"i": "new"}, int(clock.now) + 1000)
    assert cache.get("long", ISSUER, 0) == {"i": "long"}
    assert len(cache) == 2


def test_denials_are_not_cached(clock: Clock) -> None:
    key_set = KeySet.generate()
    authorizer, verifier, _ = build([key_set.public_jwks_string()], clock)
    for _ in range(3):
        assert authorizer.decide(event("garbage"))[0] == {"isAuthorized": False}
    assert verifier.calls == 3
    assert authorizer.decide({"headers": "nope"})[0] == {"isAuthorized": False}
    assert authorizer.decide(event(None))[1] == "no bearer token"
