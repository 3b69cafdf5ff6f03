"""The Secrets Manager rotation protocol on the signing key set, driven by moto's RotateSecret."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from stateless_auth.domain.errors import KeySetError
from stateless_auth.tokens.keys import KeySet, thumbprint
from stateless_auth.tokens.rotation import (
    CURRENT_STAGE,
    PENDING_STAGE,
    STEPS,
    RotationError,
    RotationTarget,
    handle,
    kids,
    rotate_now,
)
from tests.support.rotation import Aws


def test_the_first_rotation_replaces_the_placeholder_with_three_keys(aws: Aws) -> None:
    placeholder = aws.secrets.get_secret_value(SecretId=aws.secret_id)["SecretString"]
    assert json.loads(placeholder) == {"keys": []}
    assert aws.published() == {"keys": []}

    token = aws.rotate()

    assert [event["Step"] for event in aws.invocations] == list(STEPS)
    assert {event["ClientRequestToken"] for event in aws.invocations} == {token}
    live = aws.live()
    kids = [key.kid for _, key in live.entries()]
    assert len(set(kids)) == 3
    for _, key in live.entries():
        assert key.kid == thumbprint(key.public_jwk())  # RFC 7638, stable across rotations
    published = aws.published()
    assert published == live.public_jwks()
    for entry in published["keys"]:
        assert set(entry) == {"kty", "crv", "x", "y", "kid", "alg", "use"}  # no "d"
        assert (entry["alg"], entry["use"]) == ("ES256", "sig")
    stages = aws.stages()
    assert stages[token] == [CURRENT_STAGE]
    assert not any(PENDING_STAGE in labels for labels in stages.values())


def test_a_rotation_moves_next_to_current_to_previous(aws: Aws) -> None:
    aws.rotate()
    before = aws.live()
    token = aws.rotate()
    after = aws.live()
    assert after.previous.kid == before.current.kid
    assert after.current.kid == before.next.kid
    assert after.next.kid not in {key.kid for _, key in before.entries()}
    assert aws.published_kids() == {key.kid for _, key in after.entries()}
    stages = aws.stages()
    assert stages[token] == [CURRENT_STAGE]
    assert sum("AWSPREVIOUS" in labels for labels in stages.values()) == 1
    assert not any(PENDING_STAGE in labels for labels in stages.values())


def test_each_step_is_idempotent(aws: Aws) -> None:
    """Secrets Manager retries a failed rotation with the same token: a step run again
    changes nothing, whether it is retried at once or after the later steps ran."""
    aws.rotate()
    before = aws.live()
    token = aws.stage()
    snapshots = []
    for step in STEPS:
        aws.invoke(step, token)
        snapshot = aws.snapshot()
        aws.invoke(step, token)
        assert aws.snapshot() == snapshot, f"{step} changed something when retried"
        snapshots.append(snapshot)
    for step in STEPS:  # the whole rotation retried after it finished
        aws.invoke(step, token)
        assert aws.snapshot() == snapshots[-1], step
    assert aws.live().current.kid == before.next.kid


def test_create_secret_keeps_the_set_it_made(aws: Aws) -> None:
    aws.rotate()
    token = aws.stage()
    aws.invoke("createSecret", token)
    pending = aws.secrets.get_secret_value(
        SecretId=aws.secret_id, VersionId=token, VersionStage=PENDING_STAGE
    )["SecretString"]
    aws.invoke("createSecret", token)  # no second next key is generated
    again = aws.secrets.get_secret_value(SecretId=aws.secret_id, VersionId=token)
    assert again["SecretString"] == pending


def test_set_secret_announces_the_new_next_key_while_the_current_one_still_signs(
    aws: Aws,
) -> None:
    aws.rotate()
    before = aws.live()
    token = aws.stage()
    aws.invoke("createSecret", token)
    aws.invoke("setSecret", token)
    pending = KeySet.from_secret_string(
        aws.secrets.get_secret_value(SecretId=aws.secret_id, VersionId=token)["SecretString"]
    )
    assert kids(aws.live()) == kids(before)  # AWSCURRENT has not moved: login signs with it
    assert aws.published_kids() == {key.kid for _, key in pending.entries()}
    assert before.current.kid in aws.published_kids()  # ...and its tokens still verify


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:other"}, "secret"),
        ({"ClientRequestToken": "1f0e5a4c-0000-4000-8000-000000000000"}, "no stage"),
        ({"Step": "dropSecret"}, "unknown rotation step"),
        ({"Step": None}, "needs Step"),
    ],
)
def test_events_it_should_not_act_on_are_refused_and_change_nothing(
    aws: Aws, change: dict[str, Any], message: str
) -> None:
    aws.rotate()
    token = aws.stage()
    snapshot = aws.snapshot()
    with pytest.raises(RotationError, match=message):
        aws.invoke("createSecret", token, **change)
    assert aws.snapshot() == snapshot


def test_a_version_that_is_not_pending_is_refused(aws: Aws) -> None:
    first = aws.rotate()
    aws.rotate()  # the first version is now AWSPREVIOUS
    snapshot = aws.snapshot()
    with pytest.raises(RotationError, match="not AWSPENDING"):
        aws.invoke("createSecret", first)
    assert aws.snapshot() == snapshot


def test_steps_for_a_version_that_is_already_current_do_nothing(aws: Aws) -> None:
    token = aws.rotate()
    snapshot = aws.snapshot()
    for step in STEPS:
        aws.invoke(step, token)
    assert aws.snapshot() == snapshot


def test_a_secret_without_rotation_turned_on_is_refused(aws: Aws) -> None:
    other = aws.secrets.create_secret(Name="not-rotated", SecretString='{"keys":[]}')["ARN"]
    target = RotationTarget(aws.secrets, other, aws.public_secret_id, aws.min_interval)
    version = aws.secrets.describe_secret(SecretId=other)["VersionIdsToStages"]
    event = {"Step": "createSecret", "SecretId": other, "ClientRequestToken": next(iter(version))}
    with pytest.raises(RotationError, match="not turned on"):
        handle(event, target)


def test_a_damaged_secret_is_never_replaced_by_fresh_keys(aws: Aws) -> None:
    aws.rotate()
    aws.secrets.put_secret_value(SecretId=aws.secret_id, SecretString='{"keys":[{"kid":1}]}')
    published = aws.published()
    token = aws.stage()
    with pytest.raises(KeySetError):
        aws.invoke("createSecret", token)
    assert aws.published() == published


def test_rotate_now_runs_the_same_four_steps(aws: Aws) -> None:
    """The local API's rotation: no RotateSecret call, same protocol, same end state."""
    first = rotate_now(aws.secrets, aws.secret_id, aws.public_secret_id, force=False)
    assert kids(aws.live()) == kids(first)
    assert aws.published() == first.public_jwks()
    second = rotate_now(aws.secrets, aws.secret_id, aws.public_secret_id, force=True)
    assert (second.previous.kid, second.current.kid) == (first.current.kid, first.next.kid)
    stages = aws.stages()
    assert sorted(label for labels in stages.values() for label in labels) == [
        "AWSCURRENT",
        "AWSPREVIOUS",
    ]
    aws.wall_clock.now = time.time()  # rotate_now told the real time
    aws.rotate()  # and Secrets Manager's own rotation carries on from there
    assert aws.live().current.kid == second.next.kid
