"""Key sets and the verifier's key store: thumbprints, rotation, re-reads, cooldown, and
the scheduled re-reads that caches of decisions notice (docs/keys.md)."""

from __future__ import annotations

import json

import pytest

from stateless_auth.domain.errors import KeySetError
from stateless_auth.tokens.keys import KeySet, PublicKeyStore, SigningKeyProvider, thumbprint
from tests.support.clock import Clock


def store_over(
    documents: list[str], clock: Clock, *, refresh_seconds: float = 300
) -> PublicKeyStore:
    """A key store that reads the last of ``documents`` (append one to publish it), with a
    cooldown of 30 s for unknown kids; not loaded yet."""
    return PublicKeyStore(
        lambda: documents[-1], refresh_seconds=refresh_seconds, cooldown_seconds=30, clock=clock
    )


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # RFC 7638 §3.1 example is RSA; check the EC construction on a fixed key instead.
    jwk = {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
           "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}  # fmt: skip
    assert thumbprint(jwk) == thumbprint({**jwk, "kid": "ignored", "use": "sig"})
    assert len(thumbprint(jwk)) == 43


def test_secret_round_trip_and_public_set_has_no_private_members() -> None:
    key_set = KeySet.generate()
    again = KeySet.from_secret_string(key_set.to_secret_string())
    assert [k.kid for _, k in again.entries()] == [k.kid for _, k in key_set.entries()]
    jwks = key_set.public_jwks()
    assert len(jwks["keys"]) == 3
    for entry in jwks["keys"]:
        assert "d" not in entry
        assert entry["alg"] == "ES256"
        assert entry["use"] == "sig"
        assert entry["kid"] == thumbprint(entry)


def test_rotation_moves_next_to_current_to_previous() -> None:
    key_set = KeySet.generate()
    rotated = key_set.rotated()
    assert rotated.previous == key_set.current
    assert rotated.current == key_set.next
    assert rotated.next.kid not in {k.kid for _, k in key_set.entries()}


@pytest.mark.parametrize(
    "bad", ["", "{}", '{"keys": 1}', '{"keys": [{"status": "current"}]}', "[]"]
)
def test_malformed_secret_is_a_key_set_error(bad: str) -> None:
    with pytest.raises(KeySetError):
        KeySet.from_secret_string(bad)


def test_public_store_ignores_private_and_foreign_entries() -> None:
    key_set = KeySet.generate()
    private = key_set.current.private_jwk() | {"kid": "priv"}
    rsa = {"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB"}
    document = json.dumps({"keys": [*key_set.public_jwks()["keys"], private, rsa, "junk"]})
    store = PublicKeyStore(lambda: document)
    store.load()
    assert store.kids() == {k.kid for _, k in key_set.entries()}


def test_store_rereads_after_refresh_interval_and_keeps_keys_on_failure() -> None:
    clock = Clock()
    documents = [KeySet.generate().public_jwks_string()]
    store = store_over(documents, clock)
    store.load()
    first = store.kids()
    documents.append(KeySet.generate().public_jwks_string())
    clock.now += 299
    store.get("anything-known")  # unknown kid: one cooled re-read is allowed
    assert store.fetches == 2
    assert store.kids() != first
    documents.append("not json")
    clock.now += 301
    known = next(iter(store.kids()))
    assert store.get(known) is not None  # failed re-read keeps the old keys
    assert store.fetches == 3


def test_a_flood_of_unknown_kids_causes_one_fetch_per_cooldown() -> None:
    clock = Clock()
    store = store_over([KeySet.generate().public_jwks_string()], clock)
    store.load()
    for i in range(1000):
        assert store.get(f"made-up-{i}") is None
    assert store.fetches == 1  # within the cooldown of the load: no re-read at all
    clock.now += 30
    for i in range(1000):
        store.get(f"more-{i}")
    assert store.fetches == 2  # one re-read for the whole flood
    clock.now += 10
    store.get("still-cooling")
    assert store.fetches == 2
    clock.now += 20
    store.get("after-cooldown")
    assert store.fetches == 3


def test_new_key_is_found_after_rotation_without_waiting_for_refresh() -> None:
    clock = Clock()
    key_set = KeySet.generate()
    documents = [key_set.public_jwks_string()]
    store = store_over(documents, clock)
    store.load()
    twice = key_set.rotated().rotated()
    documents.append(twice.public_jwks_string())
    clock.now += 31
    assert store.get(twice.next.kid) is not None


def test_a_refresh_interval_shorter_than_the_cooldown_is_honoured() -> None:
    clock = Clock()
    documents = [KeySet.generate().public_jwks_string()]
    store = store_over(documents, clock, refresh_seconds=1)
    store.load()
    documents.append(KeySet.generate().public_jwks_string())
    clock.now += 1
    known = next(iter(store.kids()))
    assert store.get(known) is None  # re-read after 1 s: that key has gone
    assert store.fetches == 2
    assert store.get("made-up") is None  # an unknown kid still waits for the cooldown
    assert store.fetches == 2


def test_reading_the_version_rereads_a_stale_set() -> None:
    """A cache of decisions that only looks at the version must still see a rotation."""
    clock = Clock()
    key_set = KeySet.generate()
    documents = [key_set.public_jwks_string()]
    store = store_over(documents, clock)
    assert store.version == 0
    assert store.fetches == 0  # never loads by itself: the first get() does
    store.load()
    loaded = store.version
    documents.append(key_set.rotated().public_jwks_string())
    clock.now += 299
    assert store.version == loaded  # not stale yet: no re-read
    assert store.fetches == 1
    clock.now += 1
    assert store.version == loaded + 1
    assert store.fetches == 2
    assert store.version == loaded + 1  # and only once
    assert store.fetches == 2


def test_a_failed_scheduled_reread_keeps_the_keys_and_is_retried_after_the_cooldown() -> None:
    clock = Clock()
    key_set = KeySet.generate()
    documents = [key_set.public_jwks_string()]
    store = store_over(documents, clock)
    store.load()
    documents.append("not json")
    clock.now += 300
    assert store.get(key_set.current.kid) is not None
    assert store.fetches == 2
    clock.now += 10
    assert store.get(key_set.current.kid) is not None
    assert store.fetches == 2  # no hammering a failing source
    clock.now += 20
    documents.append(key_set.rotated().rotated().rotated().public_jwks_string())
    assert store.get(key_set.current.kid) is None
    assert store.fetches == 3


def test_store_without_any_keys_at_cold_start_fails_loudly() -> None:
    store = PublicKeyStore(lambda: "nope")
    with pytest.raises(KeySetError):
        store.load()


def test_signing_key_provider_caches_and_rereads() -> None:
    clock = Clock()
    sets = [KeySet.generate()]
    calls = []

    def fetch() -> str:
        calls.append(1)
        return sets[-1].to_secret_string()

    provider = SigningKeyProvider(fetch, refresh_seconds=300, clock=clock)
    assert provider.current().kid == sets[0].current.kid
    provider.current()
    assert len(calls) == 1
    sets.append(sets[0].rotated())
    clock.now += 300
    assert provider.current().kid == sets[0].next.kid
