"""The stack's AWS resources in moto, created from template.yaml's own declarations
through the local API's helpers (localapi.aws), so that the tests, the bench and the
local API all build the same tables and secrets.

``moto_stack()`` is the whole of it: tables, secrets, the first key set (made by the
rotation code, as the stack's first rotation makes it) and the extension stand-in in
front of Secrets Manager; ``environment()`` is what the functions need to use them.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from localapi.aws import create_secrets_from_template, create_tables_from_template
from localapi.template import Resolver, load_template
from stateless_auth.tokens.keys import KeySet
from tests.support.extension import ExtensionServer
from tests.support.paths import TEMPLATE
from tests.support.settings import REGION


@functools.cache
def _template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def project_template() -> dict[str, Any]:
    """template.yaml as the local API reads it (a copy of its own: change it freely)."""
    return copy.deepcopy(_template())


def create_tables(dynamodb: Any, *, resolver: Resolver | None = None) -> dict[str, str]:
    """The template's DynamoDB tables; ``{logical id: table name}``."""
    return create_tables_from_template(_template(), dynamodb, resolver=resolver)


def create_secrets(secretsmanager: Any, *, resolver: Resolver | None = None) -> dict[str, str]:
    """The template's secrets (the key sets as their placeholders); ``{logical id: ARN}``."""
    return create_secrets_from_template(_template(), secretsmanager, resolver=resolver)


def create_first_key_set(secretsmanager: Any, secret_ids: dict[str, str]) -> KeySet:
    """The first key set over the placeholders, through the code that rotates the keys in
    AWS (the first rotation is never refused)."""
    from stateless_auth.tokens.rotation import rotate_now

    return rotate_now(
        secretsmanager,
        secret_ids["SigningKeysSecret"],
        secret_ids["PublicKeysSecret"],
        force=False,
    )


@dataclass
class MotoStack:
    """The stack's resources in moto, and the extension stand-in in front of them."""

    dynamodb: Any
    secretsmanager: Any
    ssm: Any
    tables: dict[str, str]
    secret_ids: dict[str, str]
    extension: ExtensionServer

    def environment(self) -> dict[str, str]:
        """The resource variables the template gives the functions, and the extension's
        port and token. The issuer is the stack's, published in its secret."""
        return {
            "USERS_TABLE": self.tables["UsersTable"],
            "SESSIONS_TABLE": self.tables["SessionsTable"],
            "SIGNING_KEYS_SECRET_ID": self.secret_ids["SigningKeysSecret"],
            "PUBLIC_KEYS_SECRET_ID": self.secret_ids["PublicKeysSecret"],
            "JWT_ISSUER": "",
            "JWT_ISSUER_SECRET_ID": self.secret_ids["IssuerSecret"],
            **self.extension.environment(),
        }

    @property
    def issuer(self) -> str:
        """The issuer secret's value: the API's URL, JwtIssuer being empty."""
        reply = self.secretsmanager.get_secret_value(SecretId=self.secret_ids["IssuerSecret"])
        return str(reply["SecretString"])


@contextlib.contextmanager
def moto_stack(*, region: str = REGION) -> Iterator[MotoStack]:
    """Inside ``mock_aws()``: boto3's default session (which the functions' clients come
    from) set up anew, the template's tables and secrets, the first key set, and the
    extension stand-in serving Secrets Manager and SSM."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        boto3.setup_default_session(region_name=region)
        dynamodb = boto3.client("dynamodb", region_name=region)
        secretsmanager = boto3.client("secretsmanager", region_name=region)
        ssm = boto3.client("ssm", region_name=region)
        tables = create_tables(dynamodb)
        secret_ids = create_secrets(secretsmanager)
        create_first_key_set(secretsmanager, secret_ids)
        with ExtensionServer(ssm, secretsmanager) as extension:
            yield MotoStack(dynamodb, secretsmanager, ssm, tables, secret_ids, extension)
