"""Every end-to-end test's calls are checked against openapi.yaml (docs/api.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.http_client import checking_openapi


@pytest.fixture(scope="module", autouse=True)
def _checked_against_openapi() -> Iterator[None]:
    """Module-scoped and autouse, so it is on before the modules' own fixtures call the API."""
    with checking_openapi():
        yield
