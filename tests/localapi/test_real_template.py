"""The local API reads the project's own template.yaml: every resource it declares is
either created in moto or left out cleanly (KMS keys, resource policies, log groups)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from localapi.aws import (
    create_parameters_from_template,
    create_queues_from_template,
    create_secrets_from_template,
    create_tables_from_template,
)
from localapi.model import build_app_spec
from localapi.server import DEFAULT_EMAIL_FROM, local_parameter_values
from localapi.template import LOCAL_API_ID, Resolver, load_template
from tests.support.paths import ROOT, TEMPLATE

STACK = "stateless-auth-local"
URL = "http://127.0.0.1:3000"


def local_resolver(template: dict[str, Any], **parameters: str) -> Resolver:
    """The template resolved as the local API serving at URL resolves it."""
    values = {**local_parameter_values(template, {}, URL), **parameters}
    return Resolver(template, stack_name=STACK, parameter_values=values)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def test_secrets_parameters_and_tables_come_from_the_template(
    template: dict[str, Any], moto_session: boto3.session.Session
) -> None:
    resolver = local_resolver(template)
    secretsmanager = moto_session.client("secretsmanager")
    ssm = moto_session.client("ssm")
    tables = create_tables_from_template(
        template, moto_session.client("dynamodb"), resolver=resolver
    )
    secrets = create_secrets_from_template(template, secretsmanager, resolver=resolver)
    parameters = create_parameters_from_template(template, ssm, resolver=resolver)
    assert set(tables) == {"UsersTable", "SessionsTable"}
    assert set(secrets) == {"SigningKeysSecret", "PublicKeysSecret", "IssuerSecret"}
    assert parameters == {}  # the template declares no SSM parameter any more

    signing = secretsmanager.describe_secret(SecretId=secrets["SigningKeysSecret"])
    assert signing["Name"] == f"{STACK}-signing-keys"  # its explicit Name
    assert "KmsKeyId" not in signing  # the local API creates no KMS keys
    assert (
        secretsmanager.get_secret_value(SecretId=secrets["PublicKeysSecret"])["SecretString"]
        == '{"keys":[]}'
    )
    # the issuer secret: its explicit name, and its value resolved as CloudFormation would
    issuer = secretsmanager.describe_secret(SecretId=secrets["IssuerSecret"])
    assert issuer["Name"] == f"{STACK}-issuer"
    assert (
        secretsmanager.get_secret_value(SecretId=f"{STACK}-issuer")["SecretString"]
        == f"https://{LOCAL_API_ID}.execute-api.us-east-1.amazonaws.com"
    )
    assert resolver.resolve({"Ref": "SigningKeysSecret"}) == secrets["SigningKeysSecret"]


def test_resources_only_aws_has_resolve_to_plausible_values(template: dict[str, Any]) -> None:
    resolver = local_resolver(template)
    key_arn = resolver.resolve({"Fn::GetAtt": ["SigningKeysKey", "Arn"]})
    assert key_arn.startswith("arn:aws:kms:us-east-1:123456789012:key/")
    assert key_arn.endswith(resolver.resolve({"Ref": "SigningKeysKey"}))
    assert (
        resolver.resolve({"Ref": "LoginFunctionLogGroup"}) == f"/aws/lambda/{STACK}-LoginFunction"
    )
    assert resolver.resolve({"Ref": "SigningKeysKeyAlias"}) == f"alias/{STACK}/signing-keys"
    assert resolver.resolve({"Ref": "AuthApi"}) == LOCAL_API_ID


def test_functions_get_the_created_key_stores_in_their_environment(
    template: dict[str, Any], moto_session: boto3.session.Session
) -> None:
    resolver = local_resolver(template)
    secrets = create_secrets_from_template(
        template, moto_session.client("secretsmanager"), resolver=resolver
    )
    app = build_app_spec(template, ROOT, resolver)
    login = app.functions["LoginFunction"].environment
    assert login["SIGNING_KEYS_SECRET_ID"] == secrets["SigningKeysSecret"]
    assert login["PUBLIC_KEYS_SECRET_ID"] == secrets["PublicKeysSecret"]
    assert login["JWT_ISSUER_SECRET_ID"] == f"{STACK}-issuer"  # the created secret's name
    assert "JWT_ISSUER_PARAMETER" not in login
    assert "SIGNING_KEYS_SECRET_ID" not in app.functions["AuthorizerFunction"].environment


def test_the_issuer_secret_takes_a_configured_jwt_issuer(
    template: dict[str, Any], moto_session: boto3.session.Session
) -> None:
    resolver = local_resolver(template, JwtIssuer="https://auth.example.com")
    secretsmanager = moto_session.client("secretsmanager")
    secrets = create_secrets_from_template(template, secretsmanager, resolver=resolver)
    value = secretsmanager.get_secret_value(SecretId=secrets["IssuerSecret"])["SecretString"]
    assert value == "https://auth.example.com"


def test_the_mail_queue_its_dead_letter_queue_and_the_mailer_mapping(
    template: dict[str, Any], moto_session: boto3.session.Session
) -> None:
    resolver = local_resolver(template)
    sqs = moto_session.client("sqs")
    queues = create_queues_from_template(template, sqs, resolver=resolver)
    assert set(queues) == {"MailQueue", "MailDeadLetterQueue"}
    attributes = sqs.get_queue_attributes(QueueUrl=queues["MailQueue"], AttributeNames=["All"])
    mail = attributes["Attributes"]
    dead_letter_arn = resolver.resolve({"Fn::GetAtt": ["MailDeadLetterQueue", "Arn"]})
    assert json.loads(mail["RedrivePolicy"]) == {
        "deadLetterTargetArn": dead_letter_arn,
        "maxReceiveCount": 5,
    }
    assert mail["VisibilityTimeout"] == "180"
    dead = sqs.get_queue_attributes(
        QueueUrl=queues["MailDeadLetterQueue"], AttributeNames=["MessageRetentionPeriod"]
    )
    assert dead["Attributes"]["MessageRetentionPeriod"] == "1209600"

    app = build_app_spec(template, ROOT, resolver)
    mailer = app.functions["MailerFunction"].environment
    assert mailer["MAIL_QUEUE_URL"] == queues["MailQueue"]
    assert mailer["EMAIL_FROM"] == DEFAULT_EMAIL_FROM
    assert mailer["APP_URL"] == f"{URL}/demo"
    [mapping] = app.mappings
    assert (mapping.queue_id, mapping.function_id) == ("MailQueue", "MailerFunction")
    assert (mapping.batch_size, mapping.report_batch_item_failures) == (10, True)
    # the mailer's IAM policy: !Select [1, !Split ["@", !Ref EmailFrom]] resolves
    assert (
        resolver.resolve({"Fn::Select": [1, {"Fn::Split": ["@", {"Ref": "EmailFrom"}]}]})
        == (DEFAULT_EMAIL_FROM.split("@")[1])
    )
    assert not [route for route in app.routes if route.function_id == "MailerFunction"]
