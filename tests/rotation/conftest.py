"""Key rotation against moto: the template's secret and parameter, Secrets Manager's own
RotateSecret driving the rotation function, and verifiers that read through the
Parameters and Secrets extension emulator as the authorizer does in Lambda."""

from __future__ import annotations

import importlib.util
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaBackend

from localapi.aws import create_parameters_from_template, create_secrets_from_template
from localapi.extension import ExtensionServer
from localapi.runtime import LambdaContext
from localapi.template import load_template
from stateless_auth import runtime
from stateless_auth.extension import ExtensionClient
from stateless_auth.keys import KeySet, PublicKeyStore, SigningKey
from stateless_auth.rotation import CURRENT, RotationTarget
from stateless_auth.tokens import AccessTokenVerifier, issue_access_token
from tests.conftest import ROOT
from tests.keyfixtures import AUDIENCE, ISSUER

TEMPLATE = load_template(ROOT / "template.yaml")
REFRESH_SECONDS = 300.0
COOLDOWN_SECONDS = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Aws:
    """The template's key stores in moto, and what Secrets Manager does with them."""

    secrets: Any
    ssm: Any
    target: RotationTarget
    extension: ExtensionServer
    rotation_handler: Callable[..., Any]
    function_arn: str
    invocations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def secret_id(self) -> str:
        return self.target.secret_id

    @property
    def parameter_name(self) -> str:
        return self.target.parameter_name

    # -- what Secrets Manager does -----------------------------------------------------

    def rotate(self) -> str:
        """`aws secretsmanager rotate-secret`: moto stages AWSPENDING, then invokes the
        rotation function for each of the four steps; returns the token."""
        reply = self.secrets.rotate_secret(
            SecretId=self.secret_id,
            # moto forgets the function unless it is named on every call (AWS keeps it)
            RotationLambdaARN=self.function_arn,
            RotationRules={"AutomaticallyAfterDays": 30},
        )
        return str(reply["VersionId"])

    def stage(self) -> str:
        """Only what Secrets Manager does before calling the function: an AWSPENDING
        version without a value. The test then plays the steps itself."""
        with mock.patch.object(LambdaBackend, "invoke", return_value=b"null"):
            return self.rotate()

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
        value = self.secrets.get_secret_value(SecretId=self.secret_id, VersionStage=CURRENT)
        return KeySet.from_secret_string(value["SecretString"])

    def published(self) -> dict[str, Any]:
        value = self.ssm.get_parameter(Name=self.parameter_name)["Parameter"]["Value"]
        return dict(json.loads(value))

    def published_kids(self) -> set[str]:
        return {entry["kid"] for entry in self.published()["keys"]}

    def stages(self) -> dict[str, list[str]]:
        versions = self.secrets.describe_secret(SecretId=self.secret_id)["VersionIdsToStages"]
        return {version: sorted(stages) for version, stages in versions.items()}

    def snapshot(self) -> dict[str, Any]:
        """Everything a rotation step may change: versions, their values, the parameter."""
        values = {}
        for version in self.stages():
            try:
                reply = self.secrets.get_secret_value(SecretId=self.secret_id, VersionId=version)
                values[version] = reply.get("SecretString")
            except self.secrets.exceptions.ResourceNotFoundException:
                values[version] = None  # staged by Secrets Manager, no value yet
        parameter = self.ssm.get_parameter(Name=self.parameter_name)["Parameter"]
        return {
            "stages": self.stages(),
            "values": values,
            "parameter": (parameter["Value"], parameter["Version"]),
        }

    # -- the service's two sides, as in Lambda (through the extension) ------------------

    def verifier(self, clock: Clock | None = None) -> tuple[AccessTokenVerifier, PublicKeyStore]:
        """An authorizer's verifier: reads the published set through the extension."""
        client = ExtensionClient(port=self.extension.port, token=self.extension.token)
        store = PublicKeyStore(
            lambda: client.get_parameter(self.parameter_name),
            refresh_seconds=REFRESH_SECONDS,
            cooldown_seconds=COOLDOWN_SECONDS,
            clock=clock or Clock(),
        )
        return AccessTokenVerifier(store, audience=AUDIENCE), store

    def signing_key(self) -> SigningKey:
        """What the login function signs with: the current key of AWSCURRENT."""
        client = ExtensionClient(port=self.extension.port, token=self.extension.token)
        return KeySet.from_secret_string(client.get_secret(self.secret_id)).current


def load_rotation_event(step: str) -> dict[str, Any]:
    """events/rotation_<step>.json (the files `sam local invoke -e` takes)."""
    name = {
        "createSecret": "create_secret",
        "setSecret": "set_secret",
        "testSecret": "test_secret",
        "finishSecret": "finish_secret",
    }.get(step, "create_secret")
    event = json.loads((ROOT / "events" / f"rotation_{name}.json").read_text())
    event["Step"] = step
    return dict(event)


def mint(key: SigningKey, *, ttl: int = 900, subject: str = "u1") -> str:
    return issue_access_token(
        key,
        subject=subject,
        email="ann@example.com",
        roles=["user"],
        issuer=ISSUER,
        audience=AUDIENCE,
        ttl=ttl,
        session_id="s1",
    ).token


def _import_rotation_function() -> ModuleType:
    path = ROOT / "functions" / "rotation" / "app.py"
    spec = importlib.util.spec_from_file_location("handler_rotation", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    region = "us-east-1"
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name=region)
        ssm = boto3.client("ssm", region_name=region)
        secret_ids = create_secrets_from_template(TEMPLATE, secrets)
        parameters = create_parameters_from_template(TEMPLATE, ssm)
        target = RotationTarget(
            secrets, ssm, secret_ids["SigningKeysSecret"], parameters["PublicKeysParameter"]
        )
        for name, value in {
            "SIGNING_KEYS_SECRET_ID": target.secret_id,
            "PUBLIC_KEYS_PARAMETER": target.parameter_name,
            "JWT_AUDIENCE": AUDIENCE,
        }.items():
            monkeypatch.setenv(name, value)
        runtime.settings.cache_clear()
        function = _import_rotation_function()
        runtime.settings.cache_clear()
        # the handler's wiring reads the names the template gives it
        assert (function.target.secret_id, function.target.parameter_name) == (
            target.secret_id,
            target.parameter_name,
        )
        with ExtensionServer(ssm, secrets) as extension:
            aws = Aws(
                secrets=secrets,
                ssm=ssm,
                target=target,
                extension=extension,
                rotation_handler=function.lambda_handler,
                function_arn=_lambda_function(region),
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
