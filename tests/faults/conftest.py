"""One moto stack per module, the fault injector on boto3's default session before the
handlers are imported (tests/faults/harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.harness import FaultStack, fault_stack

FUNCTIONS = (
    "signup",
    "login",
    "refresh",
    "logout",
    "jwks",
    "authorizer",
    "verify_email",
    "password_reset",
    "mailer",
    "sessions",
    "account",
)


@pytest.fixture(scope="module")
def faults() -> Iterator[FaultStack]:
    with fault_stack(FUNCTIONS) as stack:
        yield stack
