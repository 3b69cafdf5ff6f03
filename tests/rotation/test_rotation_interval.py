"""createSecret refuses to rotate again sooner than the minimum interval (docs/keys.md,
"Rotation interval"; issue 8 item 5): a login or refresh function may keep signing with the outgoing current
key for as long as it caches the key set, and the rotation after next drops that key
from the published set; a verifier outside the stack may cache the JWKS for its max-age,
and a rotation makes current the key the one before announced. The interval runs from
when the last rotation finished (the rotated-at tag finishSecret writes). The operator
may allow an early rotation with a tag, for at most an hour; the local API forces (a
development tool)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from typing import Any
from unittest import mock

import pytest

from localapi import rotate_keys
from stateless_auth.storage.secrets_extension import ExtensionClient
from stateless_auth.tokens.access import LEEWAY_SECONDS, AccessTokenVerifier
from stateless_auth.tokens.keys import KeySet, PublicKeyStore, SigningKeyProvider
from stateless_auth.tokens.rotation import (
    CURRENT_STAGE,
    DEFAULT_MIN_INTERVAL_SECONDS,
    EARLY_ROTATION_MAX_AHEAD_SECONDS,
    EARLY_ROTATION_TAG,
    EXTENSION_CACHE_SECONDS,
    PENDING_STAGE,
    ROTATED_AT_TAG,
    RotationTooSoon,
    kids,
    minimum_interval,
    rotate_now,
    rotated_at,
)
from tests.support.clock import Clock
from tests.support.rotation import REFRESH_SECONDS, Aws, import_rotation_function
from tests.support.settings import AUDIENCE
from tests.support.tokens import mint, verifies


class Log:
    """What the rotation logs (RotationTarget.log): message and fields, in order."""

    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, message: str, fields: Mapping[str, Any]) -> None:
        self.records.append((message, dict(fields)))


def live_rotated_at(aws: Aws) -> int | None:
    value = aws.secrets.get_secret_value(SecretId=aws.secret_id, VersionStage=CURRENT_STAGE)
    return rotated_at(value["SecretString"])


def allow_early_rotation_until(aws: Aws, value: str) -> None:
    """What `make rotate-keys FORCE=1` does: tag the signing key secret."""
    aws.secrets.tag_resource(
        SecretId=aws.secret_id, Tags=[{"Key": EARLY_ROTATION_TAG, "Value": value}]
    )


def test_the_default_interval_is_the_longer_of_the_token_side_and_the_jwks_side() -> None:
    """max(lifetime + leeway + both caches, JWKS max-age + both caches)."""
    assert DEFAULT_MIN_INTERVAL_SECONDS == max(900 + 30 + 300 + 300, 3600 + 300 + 300) == 4200
    # a short max-age: the tokens signed with the outgoing key decide
    assert minimum_interval(access_token_ttl=60, keys_refresh_seconds=5, jwks_max_age=0) == (
        60 + 30 + 5 + 300
    )
    # a long max-age: the verifiers caching the JWKS decide
    assert minimum_interval(access_token_ttl=60, keys_refresh_seconds=5, jwks_max_age=3600) == (
        3600 + 5 + 300
    )


@pytest.mark.parametrize(("early", "cut_off"), [(0, False), (10, True)])
def test_the_interval_is_just_long_enough_for_the_last_token_a_stale_login_signs(
    early: int, cut_off: bool
) -> None:
    """A login that read the key set just before rotation R1 signs with the outgoing key
    until R1 + KEYS_REFRESH_SECONDS + the extension's cache; that token is accepted for
    its lifetime plus the leeway. At R1 + the interval it is refused anyway; 10 s before,
    it is still good, so a rotation then (dropping its key) would cut it off."""
    ttl, refresh = 900, 300
    # JWKS max-age 0: the token side alone (the JWKS side has its own test below)
    interval = minimum_interval(access_token_ttl=ttl, keys_refresh_seconds=refresh, jwks_max_age=0)
    key = KeySet.generate().current
    store = PublicKeyStore(lambda: json.dumps({"keys": [key.public_jwk()]}))
    verifier = AccessTokenVerifier(store, audience=AUDIENCE)
    now = time.time()
    r1 = now - (interval - early)  # so that "now" is the next rotation
    last_signed = r1 + refresh + EXTENSION_CACHE_SECONDS
    token = mint(key, ttl=ttl, now=last_signed)
    assert LEEWAY_SECONDS == 30
    assert verifies(verifier, token) is cut_off


class CachingVerifier:
    """A verifier outside the stack that honours the JWKS's Cache-Control max-age: it
    fetches the set, keeps it max-age seconds, and re-fetches only then."""

    def __init__(self, jwks_at: Any, max_age: int) -> None:
        self._jwks_at = jwks_at
        self._max_age = max_age
        self._fetched_at: float | None = None
        self._document = ""

    def knows(self, kid: str, now: float) -> bool:
        if self._fetched_at is None or now >= self._fetched_at + self._max_age:
            self._document, self._fetched_at = self._jwks_at(now), now
        store = PublicKeyStore(lambda: self._document, cooldown_seconds=0)
        store.load()
        return kid in store.kids()


@pytest.mark.parametrize(("early", "known"), [(0, True), (10, False)])
def test_the_interval_waits_out_a_verifier_that_cached_the_jwks_for_max_age(
    early: int, known: bool
) -> None:
    """Rotation R0 announces key N (as next); R1 makes N current. The jwks function may
    serve the set from before R0 until R0 + KEYS_REFRESH_SECONDS + the extension's cache;
    a verifier that fetched it at the last such moment keeps it for max-age. At R0 + the
    interval it has re-fetched and knows N; 10 s earlier it would refuse every token N
    signs ("unknown kid")."""
    ttl, refresh, max_age = 900, 300, 3600
    interval = minimum_interval(
        access_token_ttl=ttl, keys_refresh_seconds=refresh, jwks_max_age=max_age
    )
    lag = refresh + EXTENSION_CACHE_SECONDS
    assert interval == max_age + lag > ttl + LEEWAY_SECONDS + lag  # the JWKS side decides
    before = KeySet.generate()
    r0_set = before.rotated()
    r0 = 1_000_000.0

    def jwks_at(now: float) -> str:  # what the jwks function serves, at its slowest
        return (r0_set if now - lag >= r0 else before).public_jwks_string()

    verifier = CachingVerifier(jwks_at, max_age)
    assert not verifier.knows(r0_set.next.kid, now=r0 + lag - 1)  # the last stale fetch
    r1 = r0 + interval - early
    assert verifier.knows(r0_set.next.kid, now=r1) is known


def test_the_rotation_function_takes_its_interval_from_the_jwks_max_age_too(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JWKS_MAX_AGE_SECONDS reaches the rotation function (template) and its interval."""
    assert aws.min_interval == 4200  # the fixture's settings: the defaults
    monkeypatch.setenv("JWKS_MAX_AGE_SECONDS", "7200")
    function = import_rotation_function()
    assert function.target.min_interval_seconds == 7200 + 300 + EXTENSION_CACHE_SECONDS


def test_the_first_rotation_is_never_refused(aws: Aws) -> None:
    aws.rotate(after=0)  # the placeholder: nothing was ever rotated
    assert len(set(kids(aws.live()).values())) == 3
    assert live_rotated_at(aws) == int(aws.wall_clock.now)


def test_rotate_now_on_the_placeholder_without_force_creates_the_first_set(aws: Aws) -> None:
    first = rotate_now(
        aws.secrets, aws.secret_id, aws.public_secret_id, force=False, clock=aws.wall_clock
    )
    assert kids(aws.live()) == kids(first)
    assert aws.published() == first.public_jwks()


def test_a_rotation_within_the_interval_is_refused_logged_and_writes_nothing(aws: Aws) -> None:
    aws.rotate()
    last = live_rotated_at(aws)
    assert last == int(aws.wall_clock.now)
    live = kids(aws.live())
    token = aws.stage(after=aws.min_interval - 1)
    staged = aws.snapshot()
    assert staged["values"][token] is None  # Secrets Manager's AWSPENDING, no value yet
    log = Log()
    target = dataclasses.replace(aws.target, log=log)

    with pytest.raises(RotationTooSoon, match="at least 4200 s apart") as refused:
        aws.invoke("createSecret", token, target=target)

    assert aws.snapshot() == staged  # no pending key set, nothing published
    assert kids(aws.live()) == live
    assert (refused.value.rotated_at, refused.value.earliest) == (last, last + 4200)
    assert "make rotate-keys FORCE=1" in str(refused.value)
    assert EARLY_ROTATION_TAG in str(refused.value)
    ((message, fields),) = log.records
    assert message == str(refused.value)
    assert fields == {
        "version": token,
        "rotated_at": last,
        "earliest_rotation_at": last + 4200,
        "min_interval_seconds": 4200,
        "reason": "too soon",
    }


def test_rotate_now_within_the_interval_is_refused_and_leaves_no_pending_version(
    aws: Aws,
) -> None:
    def rotate() -> KeySet:
        return rotate_now(
            aws.secrets,
            aws.secret_id,
            aws.public_secret_id,
            force=False,
            min_interval_seconds=aws.min_interval,
            clock=aws.wall_clock,
        )

    rotate()
    before = aws.snapshot()
    aws.wall_clock.now += aws.min_interval - 1
    with pytest.raises(RotationTooSoon):
        rotate()
    assert aws.snapshot() == before
    assert not any(PENDING_STAGE in labels for labels in aws.stages().values())
    aws.wall_clock.now += 1
    rotate()  # the interval has passed


def test_secrets_managers_rotation_within_the_interval_fails_and_the_function_logs_why(
    aws: Aws,
) -> None:
    aws.rotate()
    live = kids(aws.live())
    published = aws.published()
    logger = aws.rotation_module.logger
    with (
        mock.patch.object(logger, "warning", wraps=logger.warning) as warning,
        pytest.raises(RotationTooSoon),
    ):
        aws.rotate(after=60)
    assert [event["Step"] for event in aws.invocations[-1:]] == ["createSecret"]
    assert kids(aws.live()) == live
    assert aws.published() == published
    ((arguments, keywords),) = warning.call_args_list
    assert "refusing to rotate the signing keys: the last rotation was 60 s ago" in arguments[0]
    assert keywords["extra"]["reason"] == "too soon"


def test_a_rotation_once_the_interval_has_passed_is_allowed(aws: Aws) -> None:
    aws.rotate()
    before = aws.live()
    aws.rotate(after=aws.min_interval)  # exactly the interval
    assert aws.live().current.kid == before.next.kid
    assert live_rotated_at(aws) == int(aws.wall_clock.now)


def test_the_operators_tag_in_the_future_allows_an_early_rotation_and_is_logged(
    aws: Aws,
) -> None:
    aws.rotate()
    before = aws.live()
    allow_early_rotation_until(aws, str(int(aws.wall_clock.now) + 600))
    logger = aws.rotation_module.logger
    with mock.patch.object(logger, "warning", wraps=logger.warning) as warning:
        aws.rotate(after=60)
    assert aws.live().current.kid == before.next.kid
    ((arguments, keywords),) = warning.call_args_list
    assert arguments[0] == "early key rotation allowed by the operator's tag"
    assert keywords["extra"]["allowed_until"] == int(aws.wall_clock.now) + 540
    assert keywords["extra"]["tag"] == EARLY_ROTATION_TAG
    # the forced rotation counts as the last one: once the tag has expired, the interval
    # runs from it
    assert live_rotated_at(aws) == int(aws.wall_clock.now)
    with pytest.raises(RotationTooSoon):
        aws.rotate(after=600)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("{before}", "allowed it only until"),
        ("soon", "is not epoch seconds"),
        ("", "is not epoch seconds"),
        # more than an hour ahead (at createSecret, 60 s from now): it would switch the
        # rule off for good, so it is ignored, and the refusal says so
        ("{far}", "is ignored: it is 3601 s ahead, more than the 3600 s"),
        ("99999999999", "is ignored"),
    ],
)
def test_an_expired_unreadable_or_too_distant_tag_does_not_allow_an_early_rotation(
    aws: Aws, value: str, why: str
) -> None:
    aws.rotate()
    live = kids(aws.live())
    now = int(aws.wall_clock.now)
    allow_early_rotation_until(aws, value.format(before=now + 59, far=now + 60 + 3601))
    token = aws.stage(after=60)
    staged = aws.snapshot()
    with pytest.raises(RotationTooSoon, match=why):
        aws.invoke("createSecret", token)
    assert aws.snapshot() == staged
    assert kids(aws.live()) == live


def test_an_early_rotation_tag_counts_up_to_an_hour_ahead(aws: Aws) -> None:
    aws.rotate()
    before = aws.live()
    token = aws.stage(after=60)
    allow_early_rotation_until(aws, str(int(aws.wall_clock.now) + EARLY_ROTATION_MAX_AHEAD_SECONDS))
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        aws.invoke(step, token)
    assert aws.live().current.kid == before.next.kid


def test_a_key_set_that_does_not_say_when_it_was_made_counts_as_too_recent(aws: Aws) -> None:
    """A set without rotated_at (one from before it was recorded, or one whose rotated_at
    someone removed to get around the rule) is refused however long ago anything was
    rotated; only the operator's tag rotates it, and from then on it is recorded."""
    aws.rotate()
    stripped = json.loads(
        aws.secrets.get_secret_value(SecretId=aws.secret_id, VersionStage=CURRENT_STAGE)[
            "SecretString"
        ]
    )
    del stripped["rotated_at"]
    aws.secrets.put_secret_value(SecretId=aws.secret_id, SecretString=json.dumps(stripped))
    assert live_rotated_at(aws) is None
    live = kids(aws.live())

    token = aws.stage(after=10 * aws.min_interval)
    staged = aws.snapshot()
    with pytest.raises(RotationTooSoon, match="does not record when it was made") as refused:
        aws.invoke("createSecret", token)
    assert (refused.value.rotated_at, refused.value.earliest) == (None, None)
    assert "make rotate-keys FORCE=1" in str(refused.value)
    assert aws.snapshot() == staged
    assert kids(aws.live()) == live

    allow_early_rotation_until(aws, str(int(aws.wall_clock.now) + 600))
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        aws.invoke(step, token)
    assert aws.live().current.kid == live["next"]
    assert live_rotated_at(aws) == int(aws.wall_clock.now)  # from now on, it is recorded


# ------------------------------------------------------- when a rotation finished


def test_finish_secret_records_when_the_rotation_finished_once(aws: Aws) -> None:
    aws.rotate()
    assert aws.tags()[ROTATED_AT_TAG] == str(int(aws.wall_clock.now))
    token = aws.stage()
    made = int(aws.wall_clock.now)
    for step in ("createSecret", "setSecret", "testSecret"):
        aws.invoke(step, token)
    aws.wall_clock.now += 900  # finishSecret runs (or is retried) a while later
    aws.invoke("finishSecret", token)
    assert live_rotated_at(aws) == made
    finished = made + 900
    assert aws.tags()[ROTATED_AT_TAG] == str(finished)
    aws.wall_clock.now += 900
    aws.invoke("finishSecret", token)  # a retry does not move it
    assert aws.tags()[ROTATED_AT_TAG] == str(finished)


def test_the_interval_runs_from_when_the_last_rotation_finished(aws: Aws) -> None:
    """A rotation whose finishSecret ran 3000 s after its createSecret (Secrets Manager
    retried it): its new current key only started signing then, so the next rotation waits
    the interval from then, not from rotated_at."""
    aws.rotate()
    token = aws.stage()
    made = int(aws.wall_clock.now)
    for step in ("createSecret", "setSecret", "testSecret"):
        aws.invoke(step, token)
    aws.wall_clock.now += 3000
    aws.invoke("finishSecret", token)
    live = kids(aws.live())

    with pytest.raises(RotationTooSoon) as refused:
        aws.rotate(after=aws.min_interval - 3000)  # the interval after rotated_at
    assert (refused.value.rotated_at, refused.value.earliest) == (
        made + 3000,
        made + 3000 + aws.min_interval,
    )
    assert kids(aws.live()) == live
    aws.rotate(after=3000)  # the interval after it finished
    assert aws.live().current.kid == live["next"]


def test_an_unreadable_rotated_at_tag_falls_back_to_the_sets_rotated_at(aws: Aws) -> None:
    aws.rotate()
    aws.secrets.tag_resource(SecretId=aws.secret_id, Tags=[{"Key": ROTATED_AT_TAG, "Value": "x"}])
    log = Log()
    target = dataclasses.replace(aws.target, log=log)
    token = aws.stage(after=60)
    with pytest.raises(RotationTooSoon):
        aws.invoke("createSecret", token, target=target)
    assert log.records[0][0] == f"ignoring the tag {ROTATED_AT_TAG}='x': not epoch seconds"


# ------------------------------------------------------------------ the attack


def _warm_login_then_rotation(aws: Aws) -> tuple[str, KeySet]:
    """A warm login function has read the key set; rotation R1 runs; within its cache the
    login signs with the outgoing key, as it does in Lambda. Returns that token and the
    key set R1 made current."""
    aws.rotate()
    client = ExtensionClient(port=aws.extension.port, token=aws.extension.token)
    login_clock = Clock()
    login = SigningKeyProvider(
        lambda: client.get_secret(aws.secret_id),
        refresh_seconds=REFRESH_SECONDS,
        clock=login_clock,
    )
    outgoing = login.current()
    aws.rotate()  # R1
    login_clock.now += 60
    token = mint(login.current())
    assert login.current().kid == outgoing.kid  # still signing with the old current key
    r1 = aws.live()
    assert r1.previous.kid == outgoing.kid  # ...which R1 kept published, as "previous"
    return token, r1


def test_without_the_rule_a_second_rotation_a_minute_later_cuts_off_a_fresh_token(
    aws: Aws,
) -> None:
    token, _ = _warm_login_then_rotation(aws)
    authorizer, _ = aws.verifier()
    assert verifies(authorizer, token)

    aws.wall_clock.now += 60
    rotate_now(aws.secrets, aws.secret_id, aws.public_secret_id, force=True, clock=aws.wall_clock)

    cold_authorizer, _ = aws.verifier()  # any authorizer that reads the published set now
    assert not verifies(cold_authorizer, token)  # a one-minute-old token: "unknown kid"


def test_with_the_rule_the_second_rotation_is_refused_and_the_token_still_verifies(
    aws: Aws,
) -> None:
    token, r1 = _warm_login_then_rotation(aws)

    with pytest.raises(RotationTooSoon):
        aws.rotate(after=60)

    assert kids(aws.live()) == kids(r1)
    assert r1.previous.kid in aws.published_kids()
    cold_authorizer, _ = aws.verifier()
    assert verifies(cold_authorizer, token)


def test_the_local_api_rotates_back_to_back_because_it_forces(aws: Aws) -> None:
    """`POST /_localapi/rotate-keys` and the start-up rotation (localapi.rotate_keys)
    pass force=True; the same calls without it are refused."""
    first = rotate_keys(aws.secrets, aws.secret_id, aws.public_secret_id)  # start-up
    second = rotate_keys(aws.secrets, aws.secret_id, aws.public_secret_id)
    assert second["previous"] == first["current"]
    with pytest.raises(RotationTooSoon):
        rotate_now(aws.secrets, aws.secret_id, aws.public_secret_id, force=False)
    third = rotate_keys(aws.secrets, aws.secret_id, aws.public_secret_id)
    assert third["previous"] == second["current"]
    assert aws.published_kids() == set(third.values())
