"""Fixtures of the unit tests: a clock the test moves, and empty in-memory user stores."""

from __future__ import annotations

import pytest

from tests.support.clock import Clock
from tests.support.fakes import FakeUsers


@pytest.fixture
def clock() -> Clock:
    """Starts at the real time, in whole seconds (as the stores keep it)."""
    return Clock.wall(whole_seconds=True)


@pytest.fixture
def users() -> FakeUsers:
    return FakeUsers()
