"""The Parameters and Secrets Lambda Extension emulator."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from localapi.extension import ExtensionServer


@pytest.fixture
def extension(moto_session: boto3.session.Session) -> Iterator[ExtensionServer]:
    ssm, secretsmanager = moto_session.client("ssm"), moto_session.client("secretsmanager")
    ssm.put_parameter(Name="/toy/param", Value="p-value", Type="String")
    secretsmanager.create_secret(Name="toy-secret", SecretString="s-value")
    with ExtensionServer(ssm, secretsmanager) as server:
        yield server


def get(server: ExtensionServer, path: str, token: str | None) -> tuple[int, Any]:
    headers = {} if token is None else {"X-Aws-Parameters-Secrets-Token": token}
    request = urllib.request.Request(f"{server.url}{path}", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            return error.code, json.loads(body)
        except ValueError:
            return error.code, body.decode()


def test_parameter_with_the_right_token(extension: ExtensionServer) -> None:
    name = urllib.parse.quote("/toy/param", safe="")
    status, body = get(extension, f"/systemsmanager/parameters/get?name={name}", extension.token)
    assert status == 200
    assert body["Parameter"]["Name"] == "/toy/param"
    assert body["Parameter"]["Value"] == "p-value"
    assert body["Parameter"]["Type"] == "String"
    assert body["Parameter"]["Version"] == 1
    assert body["ResultMetadata"] == {}


def test_secret_with_the_right_token(extension: ExtensionServer) -> None:
    status, body = get(extension, "/secretsmanager/get?secretId=toy-secret", extension.token)
    assert status == 200
    assert body["Name"] == "toy-secret"
    assert body["SecretString"] == "s-value"
    assert body["VersionStages"] == ["AWSCURRENT"]
    assert body["ARN"].startswith("arn:aws:secretsmanager:")
    assert isinstance(body["CreatedDate"], str)


@pytest.mark.parametrize("token", [None, "", "wrong"])
def test_missing_or_wrong_token_is_401(extension: ExtensionServer, token: str | None) -> None:
    status, _ = get(extension, "/secretsmanager/get?secretId=toy-secret", token)
    assert status == 401


def test_unknown_paths_are_400(extension: ExtensionServer) -> None:
    assert get(extension, "/secretsmanager/list", extension.token)[0] == 400
    assert get(extension, "/secretsmanager/get", extension.token)[0] == 400


def test_unknown_names_are_400_with_a_json_error(extension: ExtensionServer) -> None:
    status, body = get(extension, "/secretsmanager/get?secretId=nope", extension.token)
    assert status == 400
    assert body["__type"] == "ResourceNotFoundException"
    status, body = get(extension, "/systemsmanager/parameters/get?name=nope", extension.token)
    assert status == 400
    assert body["__type"] == "ParameterNotFound"


def test_environment_points_functions_at_the_server(extension: ExtensionServer) -> None:
    assert extension.environment() == {
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(extension.port),
        "AWS_SESSION_TOKEN": extension.token,
    }
