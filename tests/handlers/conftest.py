"""Handlers as Lambda runs them: imported by path, driven by events/*.json, against moto
tables and keys created from template.yaml and read through the extension stand-in
(tests/support/aws.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.aws import moto_stack
from tests.support.handlers import Stack, import_handler
from tests.support.settings import AUDIENCE

FUNCTIONS = (
    "signup",
    "login",
    "refresh",
    "logout",
    "jwks",
    "me",
    "authorizer",
    "verify_email",
    "password_reset",
    "mailer",
    "sessions",
    "account",
)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with moto_stack() as aws, pytest.MonkeyPatch.context() as environment:
        for name, value in {"JWT_AUDIENCE": AUDIENCE, **aws.environment()}.items():
            environment.setenv(name, value)
        handlers = {name: import_handler(name) for name in FUNCTIONS}
        yield Stack(
            handlers=handlers,
            dynamodb=aws.dynamodb,
            tables=aws.tables,
            issuer=aws.issuer,
            aws=aws,
        )
