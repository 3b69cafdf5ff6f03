"""What every test gets: fake AWS credentials and Region (handlers and boto3 never find
real ones), no connections but to this machine, and the docker/aws markers' skips.

A test connects only to loopback addresses (the local API, the extension stand-in and
the other servers the tests start themselves); any other connection from this process
raises ``NetworkRefused``. Tests marked ``aws`` or ``docker`` (skipped unless asked for)
may connect anywhere. Subprocesses (the local API, `sam`, `make`) are not watched.

Shared helpers live in tests/support/ (``ROOT`` stays here for the modules that import
it from this file).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.paths import ROOT
from tests.support.settings import FAKE_AWS

__all__ = ["ROOT"]

os.environ.update(
    {
        **FAKE_AWS,
        "POWERTOOLS_METRICS_NAMESPACE": "StatelessAuthTest",
        "POWERTOOLS_SERVICE_NAME": "stateless-auth",
    }
)


class NetworkRefused(OSError):
    """A test tried to connect to something other than this machine."""


_network_allowed = False


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX and other local families
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _refuse_remote_connections(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect" and not _network_allowed:
        sock, address = args
        if isinstance(sock, socket.socket) and not _is_loopback(address):
            raise NetworkRefused(f"tests connect only to this machine, not {address!r}")


sys.addaudithook(_refuse_remote_connections)


@pytest.fixture(autouse=True)
def _network_for_marked_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    global _network_allowed
    marked = any(request.node.get_closest_marker(name) for name in ("aws", "docker"))
    _network_allowed = marked
    try:
        yield
    finally:
        _network_allowed = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_docker = pytest.mark.skip(reason="needs a Docker engine; set RUN_DOCKER_TESTS=1")
    skip_aws = pytest.mark.skip(reason="needs an AWS account; set RUN_AWS_TESTS=1")
    for item in items:
        if "docker" in item.keywords and os.environ.get("RUN_DOCKER_TESTS") != "1":
            item.add_marker(skip_docker)
        if "aws" in item.keywords and os.environ.get("RUN_AWS_TESTS") != "1":
            item.add_marker(skip_aws)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium per test session (per xdist worker), shared by every module
    that drives a browser (Playwright's sync API allows one per process); each test opens
    its own contexts (a context is a fresh profile: its own cookies, a second device)."""
    from tests.browser.support import TIMEOUT_MS, chromium_path

    executable = chromium_path()
    if executable is None:
        pytest.skip(
            "needs Chromium: `apt-get install chromium` or CHROMIUM=/path (.ci/run installs it)"
        )
    from playwright.sync_api import expect, sync_playwright

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
