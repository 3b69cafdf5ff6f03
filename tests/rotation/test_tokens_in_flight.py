"""What a rotation does to tokens in flight, seen by a verifier that reads the published
set through the extension (as the authorizer does) and keeps its store across rotations."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stateless_auth.tokens.authorizer import Authorizer, VerifiedTokenCache
from stateless_auth.tokens.rotation import STEPS, RotationError, RotationTarget, kids
from tests.support.clock import Clock
from tests.support.rotation import COOLDOWN_SECONDS, REFRESH_SECONDS, Aws
from tests.support.settings import ISSUER
from tests.support.tokens import mint, verifies


def test_a_token_outlives_one_rotation_and_is_refused_once_its_key_left_the_set(
    aws: Aws,
) -> None:
    aws.rotate()
    clock = Clock()
    verifier, store = aws.verifier(clock)
    token = mint(aws.signing_key())  # what login hands out today
    assert verifies(verifier, token)

    aws.rotate()  # its key is now "previous"
    clock.now += REFRESH_SECONDS  # the scheduled re-read: same store, no restart
    assert verifies(verifier, token)
    assert store.kids() == aws.published_kids()

    aws.rotate()  # its key has left the set
    clock.now += REFRESH_SECONDS
    assert not verifies(verifier, token)
    assert store.kids() == aws.published_kids()


def test_a_token_signed_with_the_next_key_verifies_before_it_is_current_and_after(
    aws: Aws,
) -> None:
    aws.rotate()
    clock = Clock()
    verifier, _ = aws.verifier(clock)
    standby = aws.live().next
    token = mint(standby)
    assert verifies(verifier, token)  # published a whole period before it signs
    for rotations in (1, 2):  # it becomes current, then previous
        aws.rotate()
        clock.now += REFRESH_SECONDS
        assert verifies(verifier, token), rotations
        if rotations == 1:
            assert aws.signing_key().kid == standby.kid  # login now signs with it
    aws.rotate()
    clock.now += REFRESH_SECONDS
    assert not verifies(verifier, token)


def test_every_token_signed_before_a_rotation_verifies_after_it(aws: Aws) -> None:
    aws.rotate()
    clock = Clock()
    verifier, _ = aws.verifier(clock)
    signed_before: list[str] = []
    for _ in range(3):
        signed_before.append(mint(aws.signing_key()))
        aws.rotate()
        clock.now += REFRESH_SECONDS
        # the token signed just before this rotation still verifies; the one signed
        # before the previous rotation does not: its key has now left the set
        assert verifies(verifier, signed_before[-1])
        assert [verifies(verifier, t) for t in signed_before[:-2]] == [False] * len(
            signed_before[:-2]
        )


def test_the_authorizer_stops_accepting_a_cached_token_once_its_key_left(aws: Aws) -> None:
    aws.rotate()
    clock = Clock()
    verifier, _ = aws.verifier(clock)
    authorizer = Authorizer(verifier, issuer=lambda: ISSUER, cache=VerifiedTokenCache())
    event = {"headers": {"authorization": f"Bearer {mint(aws.signing_key())}"}}
    first, reason = authorizer.decide(event)
    assert (first["isAuthorized"], reason) == (True, "verified")
    assert authorizer.decide(event) == (first, "cached")
    aws.rotate()
    clock.now += REFRESH_SECONDS
    assert authorizer.decide(event)[0]["isAuthorized"] is True
    aws.rotate()
    clock.now += REFRESH_SECONDS
    decision, reason = authorizer.decide(event)
    assert decision == {"isAuthorized": False}
    assert reason == "unknown kid"


def test_a_new_key_is_found_early_and_a_flood_of_unknown_kids_costs_one_read_per_cooldown(
    aws: Aws,
) -> None:
    aws.rotate()
    clock = Clock()
    verifier, store = aws.verifier(clock)
    store.load()
    aws.rotate()
    aws.rotate()  # two rotations the verifier has not seen: its current key is new to it
    fresh = aws.signing_key()
    assert fresh.kid not in store.kids()
    forged = [
        dataclasses.replace(fresh, kid=f"made-up-{n}") for n in range(200)
    ]  # right key, unknown kids
    fetches = store.fetches
    for key in forged:
        assert not verifies(verifier, mint(key))
    assert store.fetches == fetches  # within the cooldown of the load: no re-read at all
    clock.now += COOLDOWN_SECONDS
    assert verifies(verifier, mint(fresh))  # one early re-read finds the new key
    for key in forged:
        assert not verifies(verifier, mint(key))
    assert store.fetches == fetches + 1
    clock.now += COOLDOWN_SECONDS
    for key in forged:
        assert not verifies(verifier, mint(key))
    assert store.fetches == fetches + 2


class Faulty:
    """A boto3 client whose `operation` fails, as a throttled or unreachable AWS would."""

    def __init__(self, client: Any, operation: str) -> None:
        self._client = client
        self._operation = operation

    def __getattr__(self, name: str) -> Any:
        if name != self._operation:
            return getattr(self._client, name)

        def fail(**kwargs: Any) -> Any:
            error = {"Error": {"Code": "ServiceUnavailable", "Message": "injected fault"}}
            raise ClientError(error, name)  # type: ignore[arg-type]

        return fail


def _tamper_with_the_published_set(aws: Aws, target: RotationTarget) -> RotationTarget:
    """Someone republishes the live set between setSecret and testSecret."""
    aws.publish(aws.live().public_jwks_string())
    return target


FAULTS = {
    "createSecret: PutSecretValue fails": ("createSecret", "secrets", "put_secret_value"),
    "setSecret: PutSecretValue (public set) fails": ("setSecret", "secrets", "put_secret_value"),
    "testSecret: GetSecretValue fails": ("testSecret", "secrets", "get_secret_value"),
    "testSecret: the published set lacks the new key": ("testSecret", None, None),
    "finishSecret: UpdateSecretVersionStage fails": (
        "finishSecret",
        "secrets",
        "update_secret_version_stage",
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_failed_step_leaves_the_service_working_and_a_retry_completes(
    aws: Aws, fault: str
) -> None:
    failing_step, client, operation = FAULTS[fault]
    aws.rotate()
    before = aws.live()
    clock = Clock()
    verifier, _ = aws.verifier(clock)
    in_flight = mint(aws.signing_key())

    token = aws.stage()
    for step in STEPS[: STEPS.index(failing_step)]:
        aws.invoke(step, token)
    if client is None:
        target = _tamper_with_the_published_set(aws, aws.target)
        expected: type[Exception] = RotationError
    else:
        assert client == "secrets"  # both key sets live in Secrets Manager
        faulty = Faulty(aws.target.secrets, operation or "")
        target = dataclasses.replace(aws.target, secrets=faulty)
        expected = ClientError
    with pytest.raises(expected):
        aws.invoke(failing_step, token, target=target)

    # still usable: login signs with the same current key, every verifier accepts
    # its tokens and the ones in flight, whether it re-reads the set or starts cold
    assert kids(aws.live()) == kids(before)
    fresh_verifier, _ = aws.verifier()
    clock.now += REFRESH_SECONDS
    for check in (verifier, fresh_verifier):
        assert verifies(check, in_flight)
        assert verifies(check, mint(aws.signing_key()))

    # Secrets Manager retries the whole rotation with the same token: it completes
    for step in STEPS:
        aws.invoke(step, token)
    assert aws.live().current.kid == before.next.kid
    assert aws.published_kids() == set(kids(aws.live()).values())
    clock.now += REFRESH_SECONDS
    assert verifies(verifier, in_flight)
    assert verifies(verifier, mint(aws.signing_key()))
