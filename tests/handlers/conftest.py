"""Handlers as Lambda runs them: imported by path, driven by events/*.json, against moto
tables and keys created from template.yaml and read through the extension emulator."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localapi.aws import create_secrets_from_template, create_tables_from_template
from localapi.extension import ExtensionServer
from localapi.runtime import LambdaContext
from localapi.template import load_template
from stateless_auth.tokens.rotation import rotate_now
from tests.conftest import ROOT

FUNCTIONS = ("signup", "login", "refresh", "logout", "jwks", "me", "authorizer")
AUDIENCE = "stateless-auth-test"


@dataclass
class Stack:
    handlers: dict[str, ModuleType]
    dynamodb: Any
    tables: dict[str, str]
    issuer: str

    def invoke(self, name: str, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.handlers[name].lambda_handler(event, LambdaContext())
        return result


def _import_handler(name: str) -> ModuleType:
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"handler_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    template = load_template(ROOT / "template.yaml")
    saved = dict(os.environ)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        ssm = boto3.client("ssm", region_name="us-east-1")
        tables = create_tables_from_template(template, dynamodb)
        # The key stores and the issuer secret, as the stack creates them (the issuer with
        # its resolved value: the API's URL, JwtIssuer being empty).
        secret_ids = create_secrets_from_template(template, secrets)
        # The first rotation creates the key set, as the stack's first rotation does.
        rotate_now(
            secrets, secret_ids["SigningKeysSecret"], secret_ids["PublicKeysSecret"], force=False
        )
        with ExtensionServer(ssm, secrets) as extension:
            os.environ.update(
                {
                    "USERS_TABLE": tables["UsersTable"],
                    "SESSIONS_TABLE": tables["SessionsTable"],
                    "SIGNING_KEYS_SECRET_ID": secret_ids["SigningKeysSecret"],
                    "PUBLIC_KEYS_SECRET_ID": secret_ids["PublicKeysSecret"],
                    "JWT_AUDIENCE": AUDIENCE,
                    "JWT_ISSUER": "",
                    "JWT_ISSUER_SECRET_ID": secret_ids["IssuerSecret"],
                    **extension.environment(),
                }
            )
            try:
                handlers = {name: _import_handler(name) for name in FUNCTIONS}
                issuer = secrets.get_secret_value(SecretId=secret_ids["IssuerSecret"])[
                    "SecretString"
                ]
                yield Stack(handlers=handlers, dynamodb=dynamodb, tables=tables, issuer=issuer)
            finally:
                os.environ.clear()
                os.environ.update(saved)
