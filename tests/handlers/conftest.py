"""Handlers as Lambda runs them: imported by path, driven by events/*.json, against moto
tables and keys created from template.yaml and read through the extension stand-in
(tests/support/aws.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.handlers import Stack, stack_in_moto
from tests.support.paths import HANDLER_NAMES

FUNCTIONS = HANDLER_NAMES


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with stack_in_moto(FUNCTIONS) as stack:
        yield stack
