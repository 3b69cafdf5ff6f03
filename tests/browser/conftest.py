"""One headless Chromium per test session (per xdist worker); each test opens its own
browser contexts (a context is a fresh profile: its own cookies, a second device)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser.support import TIMEOUT_MS, chromium_path

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import expect, sync_playwright

    executable = chromium_path()
    assert executable is not None  # the modules skip at collection without one
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            # The sandbox needs user namespaces that containers (and root) often lack.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        try:
            yield launched
        finally:
            launched.close()
