"""The rotation publishes only keys it made itself (security review of issue 8).

The signing key secret's resource policy (template) denies every write to anyone but
the rotation function. These tests hold the function's own checks, which still stand
if that policy is ever missing or bypassed (moto enforces no policy, so here an
"attacker" simply writes the secret):

* a secret re-encrypted under a KMS key other than the stack's is refused at every step
  (changing a secret's key needs no kms:Decrypt on the old one, so whoever may call
  UpdateSecret could put a key set of their own there, under their own key);
* setSecret refuses, before publishing anything, a pending set that does not continue
  the published one: its previous and current keys must already be published (the
  rotation before published them as current and next), and every kid must be its key's
  RFC 7638 thumbprint (so a published kid copied onto another key does not pass).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import boto3
import pytest

from stateless_auth.tokens.keys import KeySet, SigningKey
from stateless_auth.tokens.rotation import STEPS, RotationError, kids
from tests.support.rotation import Aws


def _write_live_set(aws: Aws, key_set: KeySet, **extra: Any) -> None:
    """Someone other than the rotation puts a key set into AWSCURRENT (with rotated_at
    long ago, so that the interval rule does not stop it first)."""
    document = json.loads(key_set.to_secret_string())
    document["rotated_at"] = int(aws.wall_clock.now) - 10 * aws.min_interval
    document.update(extra)
    aws.secrets.put_secret_value(SecretId=aws.secret_id, SecretString=json.dumps(document))


def _with_kids_of(forged: KeySet, published: KeySet) -> KeySet:
    """The attacker's private keys under the kids of the published set."""
    return KeySet(
        *(
            SigningKey(kid=real.kid, private_key=fake.private_key, created_at=fake.created_at)
            for (_, fake), (_, real) in zip(forged.entries(), published.entries(), strict=True)
        )
    )


# ----------------------------------------------------------------- the KMS key


def _other_key_arn(aws: Aws) -> str:
    return str(boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"])


def test_the_fixture_secret_is_encrypted_with_the_key_the_function_expects(aws: Aws) -> None:
    described = aws.secrets.describe_secret(SecretId=aws.secret_id)
    assert described["KmsKeyId"] == aws.kms_key_arn  # DescribeSecret: the key ARN
    assert aws.kms_key_arn.endswith(f":key/{aws.target.kms_key_id}")  # env: the key id
    aws.rotate()  # every step checks it, and passes


def test_a_secret_re_encrypted_with_another_key_and_keys_of_its_own_is_refused(
    aws: Aws,
) -> None:
    """The review's attack: UpdateSecret(KmsKeyId=<own key>, SecretString=<own set>)."""
    aws.rotate()
    published = aws.published()
    forged = KeySet.generate()
    document = json.loads(forged.to_secret_string())
    document["rotated_at"] = int(aws.wall_clock.now) - 10 * aws.min_interval
    aws.secrets.update_secret(
        SecretId=aws.secret_id, KmsKeyId=_other_key_arn(aws), SecretString=json.dumps(document)
    )
    token = aws.stage()
    staged = aws.snapshot()
    for step in STEPS:
        with pytest.raises(RotationError, match="not the stack's key"):
            aws.invoke(step, token)
    assert aws.snapshot() == staged
    assert aws.published() == published


@pytest.mark.parametrize(
    ("expected", "actual", "accepted"),
    [
        ("{id}", "{arn}", True),  # the stack: env !Ref (id), secret !GetAtt .Arn
        ("{arn}", "{arn}", True),
        ("{id}", "{id}", True),
        ("{arn}", "{id}", True),
        ("{id}", "{other}", False),
        ("{arn}", "{other}", False),
        ("{id}", "arn:aws:kms:us-east-1:123456789012:alias/signing-keys", False),
        ("{id}", None, False),  # the AWS managed key aws/secretsmanager: KmsKeyId omitted
        ("", "{other}", True),  # no expected key (the local API): no check
    ],
)
def test_the_kms_key_check_compares_key_ids_and_arns(
    aws: Aws, expected: str, actual: str | None, accepted: bool
) -> None:
    aws.rotate()  # rotation on, the first keys current
    names = {
        "id": aws.target.kms_key_id,
        "arn": aws.kms_key_arn,
        "other": _other_key_arn(aws),
    }
    if actual is None:
        # moto cannot unset a secret's key: a secret made without one, as in AWS (the key
        # check comes before the check that rotation is turned on)
        secret_id = aws.secrets.create_secret(Name="default-key", SecretString='{"keys":[]}')["ARN"]
    else:
        secret_id = aws.secret_id
        aws.secrets.update_secret(SecretId=secret_id, KmsKeyId=actual.format(**names))
    target = dataclasses.replace(
        aws.target, secret_id=secret_id, kms_key_id=expected.format(**names)
    )
    versions = aws.secrets.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
    (token,) = [version for version, stages in versions.items() if "AWSCURRENT" in stages]
    event = {"SecretId": secret_id}
    if accepted:
        aws.invoke("finishSecret", token, target=target, **event)  # already current: a no-op
    else:
        with pytest.raises(RotationError, match="not the stack's key"):
            aws.invoke("finishSecret", token, target=target, **event)


# ------------------------------------------------------------------- continuity


@pytest.mark.parametrize(
    ("forge", "why"),
    [
        ("own keys", "not in the published set"),
        ("published kids on own keys", "not its RFC 7638 thumbprint"),
    ],
)
def test_a_key_set_written_into_awscurrent_by_someone_else_is_never_published(
    aws: Aws, forge: str, why: str
) -> None:
    aws.rotate()
    legitimate = aws.live()
    published = aws.published()
    forged = KeySet.generate()
    if forge == "published kids on own keys":
        forged = _with_kids_of(forged, legitimate)
        assert kids(forged) == kids(legitimate)
    _write_live_set(aws, forged)

    token = aws.stage()
    aws.invoke("createSecret", token)  # the pending set is made from the forged one...
    versions = aws.secrets.list_secret_version_ids(SecretId=aws.public_secret_id)["Versions"]
    with pytest.raises(RotationError, match=why):
        aws.invoke("setSecret", token)  # ...and refused before anything is published
    assert aws.published() == published
    again = aws.secrets.list_secret_version_ids(SecretId=aws.public_secret_id)["Versions"]
    assert len(again) == len(versions)
    with pytest.raises(RotationError):
        aws.invoke("finishSecret", token)  # the forged keys never become current
    assert aws.live().current.kid == forged.current.kid  # (still what the attacker wrote)


def test_secrets_managers_own_rotation_of_a_forged_set_fails_at_set_secret(aws: Aws) -> None:
    aws.rotate()
    published = aws.published()
    _write_live_set(aws, KeySet.generate())
    with pytest.raises(RotationError, match="not in the published set"):
        aws.rotate()
    assert [event["Step"] for event in aws.invocations[-2:]] == ["createSecret", "setSecret"]
    assert aws.published() == published


def test_a_legitimate_rotation_always_continues_the_published_set(aws: Aws) -> None:
    """pending.previous was published as current, pending.current as next."""
    aws.rotate()
    for _ in range(3):
        before = {entry["kid"] for entry in aws.published()["keys"]}
        token = aws.stage()
        aws.invoke("createSecret", token)
        aws.invoke("setSecret", token)
        pending = KeySet.from_secret_string(
            aws.secrets.get_secret_value(SecretId=aws.secret_id, VersionId=token)["SecretString"]
        )
        assert {pending.previous.kid, pending.current.kid} <= before
        aws.invoke("testSecret", token)
        aws.invoke("finishSecret", token)


def test_only_over_the_placeholder_is_a_fresh_set_published(aws: Aws) -> None:
    """Starting over takes both secrets back to the placeholder: the private one alone is
    not enough (that is what an attacker with PutSecretValue could do)."""
    aws.rotate()
    published = aws.published()
    aws.secrets.put_secret_value(SecretId=aws.secret_id, SecretString='{"keys":[]}')
    token = aws.stage()
    aws.invoke("createSecret", token)  # a fresh set, as on the stack's first rotation
    with pytest.raises(RotationError, match="not in the published set"):
        aws.invoke("setSecret", token)
    assert aws.published() == published

    aws.publish('{"keys":[]}')  # both placeholders: a deliberate start over
    aws.invoke("setSecret", token)
    aws.invoke("testSecret", token)
    aws.invoke("finishSecret", token)
    assert {entry["kid"] for entry in aws.published()["keys"]} == set(kids(aws.live()).values())


def test_a_published_set_that_is_not_a_jwks_is_not_published_over(aws: Aws) -> None:
    aws.rotate()
    aws.publish('{"keys":[{"kid":"x"}]}')
    token = aws.stage()
    aws.invoke("createSecret", token)
    with pytest.raises(RotationError, match="not a JWKS"):
        aws.invoke("setSecret", token)
    assert aws.published() == {"keys": [{"kid": "x"}]}
