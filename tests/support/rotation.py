"""Key rotation against moto: the template's two secrets (private and public key sets),
Secrets Manager's own RotateSecret driving the rotation function, and verifiers that read
through the extension stand-in as the authorizer does in Lambda.

The rotation function refuses to rotate sooner than its minimum interval after the last
rotation, by wall-clock time: here that is ``Aws.wall_clock``, which ``Aws.rotate`` moves
on by the interval first (a scheduled rotation), unless a test says otherwise.

As in the stack, the signing key secret is encrypted with "the stack's KMS key" (a moto
key; moto encrypts nothing) and the rotation function is told that key
(SIGNING_KEYS_KMS_KEY_ID), so every step checks it. ``rotation_aws`` is the ``aws``
fixture of tests/rotation/ as a context manager, for tests elsewhere (it nests inside
another ``mock_aws``: give it a region of its own there, as the template names one
secret by its logical id alone)."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaBackend

from localapi.template import DEFAULT_STACK_NAME, Resolver
from stateless_auth.storage.secrets_extension import ExtensionClient
from stateless_auth.tokens.access import AccessTokenVerifier
from stateless_auth.tokens.keys import KeySet, PublicKeyStore, SigningKey
from stateless_auth.tokens.rotation import CURRENT_STAGE, RotationTarget, minimum_interval
from tests.support.aws import create_secrets, project_template
from tests.support.clock import Clock
from tests.support.events import load_rotation_event
from tests.support.extension import ExtensionServer
from tests.support.handlers import LambdaContext, import_handler
from tests.support.settings import AUDIENCE, REGION

REFRESH_SECONDS = 300.0  # the verifiers' KEYS_REFRESH_SECONDS
COOLDOWN_SECONDS = 30.0  # their cooldown for unknown kids
WALL_CLOCK_START = 1_750_000_000.0  # epoch seconds (June 2025)


@dataclass
class Aws:
    """The template's key stores in moto, and what Secrets Manager does with them."""

    secrets: Any
    ssm: Any
    target: RotationTarget
    extension: ExtensionServer
    rotation_handler: Callable[..., Any]
    function_arn: str
    wall_clock: Clock
    rotation_module: ModuleType
    kms_key_arn: str
    secret_ids: dict[str, str]
    invocations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def secret_id(self) -> str:
        return self.target.secret_id

    @property
    def public_secret_id(self) -> str:
        return self.target.public_secret_id

    @property
    def min_interval(self) -> int:
        return self.target.min_interval_seconds

    # -- what Secrets Manager does -----------------------------------------------------

    def rotate(self, *, after: float | None = None) -> str:
        """`aws secretsmanager rotate-secret`, `after` seconds (default: the minimum
        interval) after the previous call: moto stages AWSPENDING, then invokes the
        rotation function for each of the four steps; returns the token."""
        self.wall_clock.now += self.min_interval if after is None else after
        reply = self.secrets.rotate_secret(
            SecretId=self.secret_id,
            # moto forgets the function unless it is named on every call (AWS keeps it)
            RotationLambdaARN=self.function_arn,
            RotationRules={"AutomaticallyAfterDays": 30},
        )
        return str(reply["VersionId"])

    def stage(self, *, after: float | None = None) -> str:
        """Only what Secrets Manager does before calling the function: an AWSPENDING
        version without a value. The test then plays the steps itself."""
        with mock.patch.object(LambdaBackend, "invoke", return_value=b"null"):
            return self.rotate(after=after)

    def invoke(
        self, step: str, token: str, *, target: RotationTarget | None = None, **overrides: Any
    ) -> Any:
        """The rotation function, called as Secrets Manager calls it for one step
        (``target`` swaps the AWS clients it uses, e.g. for one that fails)."""
        event = {
            **load_rotation_event(step),
            "SecretId": self.secret_id,
            "ClientRequestToken": token,
        }
        event.update(overrides)
        return self.rotation_handler(event, LambdaContext(), rotation_target=target)

    # -- state -------------------------------------------------------------------------

    def live(self) -> KeySet:
        value = self.secrets.get_secret_value(SecretId=self.secret_id, VersionStage=CURRENT_STAGE)
        return KeySet.from_secret_string(value["SecretString"])

    def published(self) -> dict[str, Any]:
        value = self.secrets.get_secret_value(SecretId=self.public_secret_id)["SecretString"]
        return dict(json.loads(value))

    def publish(self, document: str) -> None:
        """Write the public key secret as someone other than the rotation would."""
        self.secrets.put_secret_value(SecretId=self.public_secret_id, SecretString=document)

    def published_kids(self) -> set[str]:
        return {entry["kid"] for entry in self.published()["keys"]}

    def tags(self) -> dict[str, str]:
        described = self.secrets.describe_secret(SecretId=self.secret_id)
        return {tag["Key"]: tag["Value"] for tag in described.get("Tags") or []}

    def stages(self) -> dict[str, list[str]]:
        versions = self.secrets.describe_secret(SecretId=self.secret_id)["VersionIdsToStages"]
        return {version: sorted(stages) for version, stages in versions.items()}

    def snapshot(self) -> dict[str, Any]:
        """Everything a rotation step may change: versions, their values, the signing
        secret's tags, the public set."""
        values = {}
        for version in self.stages():
            try:
                reply = self.secrets.get_secret_value(SecretId=self.secret_id, VersionId=version)
                values[version] = reply.get("SecretString")
            except self.secrets.exceptions.ResourceNotFoundException:
                values[version] = None  # staged by Secrets Manager, no value yet
        public = self.secrets.get_secret_value(SecretId=self.public_secret_id)
        return {
            "stages": self.stages(),
            "values": values,
            "tags": self.tags(),
            "published": (public["SecretString"], public["VersionId"]),
            "published_versions": len(
                self.secrets.list_secret_version_ids(SecretId=self.public_secret_id)["Versions"]
            ),
        }

    # -- the service's two sides, as in Lambda (through the extension) ------------------

    def verifier(self, clock: Clock | None = None) -> tuple[AccessTokenVerifier, PublicKeyStore]:
        """An authorizer's verifier: reads the published set through the extension."""
        client = ExtensionClient(port=self.extension.port, token=self.extension.token)
        store = PublicKeyStore(
            lambda: client.get_secret(self.public_secret_id),
            refresh_seconds=REFRESH_SECONDS,
            cooldown_seconds=COOLDOWN_SECONDS,
            clock=clock or Clock(),
        )
        return AccessTokenVerifier(store, audience=AUDIENCE), store

    def signing_key(self) -> SigningKey:
        """What the login function signs with: the current key of AWSCURRENT."""
        client = ExtensionClient(port=self.extension.port, token=self.extension.token)
        return KeySet.from_secret_string(client.get_secret(self.secret_id)).current


def import_rotation_function() -> ModuleType:
    """functions/rotation/app.py, imported afresh with the process's environment."""
    return import_handler("rotation")


def _lambda_function(region: str) -> str:
    """A function in moto's Lambda for RotateSecret to find (its code is never run)."""
    iam = boto3.client("iam", region_name=region)
    role = iam.create_role(
        RoleName="KeyRotationFunctionRole",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return None\n")
    reply = boto3.client("lambda", region_name=region).create_function(
        FunctionName="stateless-auth-KeyRotationFunction",
        Runtime="python3.13",
        Role=role,
        Handler="app.lambda_handler",
        Code={"ZipFile": code.getvalue()},
    )
    return str(reply["FunctionArn"])


@contextmanager
def rotation_aws(
    monkeypatch: pytest.MonkeyPatch,
    *,
    stack_name: str = DEFAULT_STACK_NAME,
    region: str = REGION,
) -> Iterator[Aws]:
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name=region)
        ssm = boto3.client("ssm", region_name=region)
        resolver = Resolver(project_template(), stack_name=stack_name, region=region)
        secret_ids = create_secrets(secrets, resolver=resolver)
        # The stack's customer-managed key (the local API drops KmsKeyId; AWS has it).
        key = boto3.client("kms", region_name=region).create_key()["KeyMetadata"]
        secrets.update_secret(SecretId=secret_ids["SigningKeysSecret"], KmsKeyId=key["Arn"])
        wall_clock = Clock(WALL_CLOCK_START)
        target = RotationTarget(
            secrets,
            secret_ids["SigningKeysSecret"],
            secret_ids["PublicKeysSecret"],
            minimum_interval(access_token_ttl=900, keys_refresh_seconds=300, jwks_max_age=3600),
            clock=wall_clock,
            kms_key_id=key["KeyId"],  # !Ref SigningKeysKey: the key id, not the ARN
        )
        for name, value in {
            "SIGNING_KEYS_SECRET_ID": target.secret_id,
            "SIGNING_KEYS_KMS_KEY_ID": target.kms_key_id,
            "PUBLIC_KEYS_SECRET_ID": target.public_secret_id,
            "JWT_AUDIENCE": AUDIENCE,
            "ACCESS_TOKEN_TTL_SECONDS": "900",
            "KEYS_REFRESH_SECONDS": "300",
            "JWKS_MAX_AGE_SECONDS": "3600",
        }.items():
            monkeypatch.setenv(name, value)
        function = import_rotation_function()
        # the handler's wiring reads the names and the settings the template gives it
        wiring = ("secret_id", "public_secret_id", "min_interval_seconds", "kms_key_id")
        assert [getattr(function.target, name) for name in wiring] == [
            getattr(target, name) for name in wiring
        ]
        # ...and, here, tells the time by the test's wall clock (and logs as in Lambda)
        target = dataclasses.replace(target, log=function.target.log)
        monkeypatch.setattr(function, "target", target)
        with ExtensionServer(ssm, secrets) as extension:
            aws = Aws(
                secrets=secrets,
                ssm=ssm,
                target=target,
                extension=extension,
                rotation_handler=function.lambda_handler,
                function_arn=_lambda_function(region),
                wall_clock=wall_clock,
                rotation_module=function,
                kms_key_arn=key["Arn"],
                secret_ids=secret_ids,
            )

            def invoke(
                backend: Any,
                function_name: str,
                qualifier: Any,
                body: Any,
                headers: Any,
                response_headers: Any,
            ) -> bytes:
                assert function_name == aws.function_arn
                event = json.loads(body)
                aws.invocations.append(event)
                function.lambda_handler(event, LambdaContext())
                return b"null"

            with mock.patch.object(LambdaBackend, "invoke", invoke):
                yield aws
