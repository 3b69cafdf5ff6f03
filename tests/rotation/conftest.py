"""The ``aws`` fixture: the template's key stores in moto, the rotation function wired to
them (tests/support/rotation.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.rotation import Aws, rotation_aws


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    with rotation_aws(monkeypatch) as stack:
        yield stack
