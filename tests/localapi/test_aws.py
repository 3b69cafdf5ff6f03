"""The embedded AWS: tables from the template, secrets, parameters, and the moto lock."""

from __future__ import annotations

import sys
import threading
from typing import Any

import boto3
from botocore.exceptions import ClientError

from localapi.aws import (
    create_parameters_from_template,
    create_secrets_from_template,
    create_tables_from_template,
    install_moto_lock,
)
from localapi.template import Resolver


def test_tables_are_created_from_their_declaration(
    toy_template: dict[str, Any], moto_session: boto3.session.Session
) -> None:
    dynamodb = moto_session.client("dynamodb")
    tables = create_tables_from_template(toy_template, dynamodb)
    assert tables == {"ToyTable": "ToyTable"}
    table = dynamodb.describe_table(TableName="ToyTable")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamodb.describe_time_to_live(TableName="ToyTable")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_secrets_and_parameters_get_their_template_values(
    toy_template: dict[str, Any], moto_session: boto3.session.Session
) -> None:
    resolver = Resolver(toy_template)
    secretsmanager, ssm = moto_session.client("secretsmanager"), moto_session.client("ssm")
    secrets = create_secrets_from_template(toy_template, secretsmanager, resolver=resolver)
    parameters = create_parameters_from_template(toy_template, ssm, resolver=resolver)
    arn = secrets["ToySecret"]
    assert arn.startswith("arn:aws:secretsmanager:us-east-1:")
    assert secretsmanager.get_secret_value(SecretId=arn)["SecretString"] == '{"hello":"secret"}'
    assert parameters == {"ToyParameter": "ToyParameter"}
    assert ssm.get_parameter(Name="ToyParameter")["Parameter"]["Value"] == "toy-value"
    assert resolver.resolve({"Ref": "ToySecret"}) == arn


def test_moto_lock_keeps_conditional_writes_atomic(moto_session: boto3.session.Session) -> None:
    """20 threads put the same key under attribute_not_exists: exactly one wins.

    A tiny GIL switch interval makes moto's check-then-write race show up in most runs
    of this test when the lock is missing.
    """
    install_moto_lock()
    install_moto_lock()  # idempotent
    dynamodb = moto_session.client("dynamodb")
    dynamodb.create_table(
        TableName="race",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for round_number in range(10):
            outcomes = race(dynamodb, f"key-{round_number}", writers=20)
            assert sorted(outcomes) == ["ConditionalCheckFailedException"] * 19 + ["won"]
    finally:
        sys.setswitchinterval(switch_interval)


def race(dynamodb: Any, key: str, writers: int) -> list[str]:
    start = threading.Barrier(writers)
    outcomes: list[str] = []
    outcomes_lock = threading.Lock()

    def put(writer: int) -> None:
        start.wait()
        try:
            dynamodb.put_item(
                TableName="race",
                Item={"pk": {"S": key}, "writer": {"N": str(writer)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            outcome = "won"
        except ClientError as exc:
            outcome = exc.response["Error"]["Code"]
        with outcomes_lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=put, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes
