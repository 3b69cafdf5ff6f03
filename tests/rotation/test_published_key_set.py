"""The published key set lives in the public key secret, and only the rotation writes it
(issue 8 item 4): no SSM parameter holds a key set any more, so `ssm:PutParameter`, often
granted widely, can no longer add a key that mints tokens for anyone."""

from __future__ import annotations

import json
from typing import Any

import pytest

from localapi.aws import create_parameters_from_template
from stateless_auth import wiring
from stateless_auth.config import load_settings
from stateless_auth.tokens.rotation import kids, rotate_now
from tests.support.aws import project_template
from tests.support.rotation import Aws
from tests.support.settings import AUDIENCE

WRITES = ("Put", "Update", "Create", "Delete", "Tag", "Restore", "Rotate", "Label")


def _record_writes(client: Any, service: str, calls: list[tuple[str, str, str]]) -> None:
    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name.startswith(WRITES):
            target = params.get("SecretId") or params.get("Name") or ""
            calls.append((service, model.name, str(target)))

    client.meta.events.register(f"provide-client-params.{service}", record)


def _holds_a_key_set(value: str) -> bool:
    try:
        document = json.loads(value)
    except ValueError:
        return False
    return isinstance(document, dict) and "keys" in document


def test_only_the_rotation_writes_the_public_set_and_no_parameter_holds_one(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    parameters = create_parameters_from_template(project_template(), aws.ssm)  # what the stack has
    assert parameters == {}  # not even the issuer is an SSM parameter any more
    writes: list[tuple[str, str, str]] = []
    _record_writes(aws.secrets, "secretsmanager", writes)
    _record_writes(aws.ssm, "ssm", writes)

    first = rotate_now(aws.secrets, aws.secret_id, aws.public_secret_id, force=False)
    second = rotate_now(aws.secrets, aws.secret_id, aws.public_secret_id, force=True)

    # the public key secret holds the JWKS of the live set, public members only
    assert aws.published() == second.public_jwks()
    assert all("d" not in entry for entry in aws.published()["keys"])
    # the rotation wrote the two secrets and nothing else: no SSM call at all (the tag
    # records when the rotation finished)
    assert {service for service, _, _ in writes} == {"secretsmanager"}
    assert {(operation, target) for _, operation, target in writes} == {
        ("PutSecretValue", aws.secret_id),
        ("PutSecretValue", aws.public_secret_id),
        ("UpdateSecretVersionStage", aws.secret_id),
        ("TagResource", aws.secret_id),
    }
    # no SSM parameter, of the template's or any other, holds a key set
    names = [p["Name"] for p in aws.ssm.describe_parameters()["Parameters"]]
    assert sorted(names) == sorted(parameters.values())
    for name in names:
        value = aws.ssm.get_parameter(Name=name)["Parameter"]["Value"]
        assert not _holds_a_key_set(value), name
    # and the readers (authorizer, jwks) read the public key secret through the extension
    for name, value in {
        "PUBLIC_KEYS_SECRET_ID": aws.public_secret_id,
        "JWT_AUDIENCE": AUDIENCE,
        **aws.extension.environment(),
    }.items():
        monkeypatch.setenv(name, value)
    store = wiring.public_key_store(load_settings())
    store.load()
    assert store.kids() == set(kids(second).values())
    assert first.current.kid in store.kids()  # the key that signed until just now


def test_a_retried_set_secret_adds_no_version_of_the_public_secret(aws: Aws) -> None:
    aws.rotate()
    token = aws.stage()
    aws.invoke("createSecret", token)
    aws.invoke("setSecret", token)
    versions = aws.secrets.list_secret_version_ids(SecretId=aws.public_secret_id)["Versions"]
    aws.invoke("setSecret", token)
    again = aws.secrets.list_secret_version_ids(SecretId=aws.public_secret_id)["Versions"]
    assert len(again) == len(versions)
