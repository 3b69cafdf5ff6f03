"""One moto stack per module, the fault injector on boto3's default session before the
handlers are imported (tests/faults/harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.harness import FaultStack, fault_stack
from tests.support.paths import HANDLER_NAMES

FUNCTIONS = tuple(n for n in HANDLER_NAMES if n != "me")  # me calls no AWS


@pytest.fixture(scope="module")
def faults() -> Iterator[FaultStack]:
    with fault_stack(FUNCTIONS) as stack:
        yield stack
