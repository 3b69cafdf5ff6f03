"""The verifier's key store as rotation needs it: scheduled re-reads that caches notice."""

from __future__ import annotations

from stateless_auth.tokens.keys import KeySet, PublicKeyStore
from tests.rotation.conftest import Clock


def test_a_refresh_interval_shorter_than_the_cooldown_is_honoured() -> None:
    clock = Clock()
    documents = [KeySet.generate().public_jwks_string()]
    store = PublicKeyStore(
        lambda: documents[-1], refresh_seconds=1, cooldown_seconds=30, clock=clock
    )
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
    store = PublicKeyStore(
        lambda: documents[-1], refresh_seconds=300, cooldown_seconds=30, clock=clock
    )
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
    store = PublicKeyStore(
        lambda: documents[-1], refresh_seconds=300, cooldown_seconds=30, clock=clock
    )
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
