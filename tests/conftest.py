"""Shared fixtures. Unit tests never touch the network: sockets are refused except
for the loopback servers that the handler and end-to-end tests start themselves."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"

# Handlers and boto3 must never find real credentials or a real region in tests.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_METRICS_NAMESPACE": "StatelessAuthTest",
        "POWERTOOLS_SERVICE_NAME": "stateless-auth",
    }
)


def load_event(name: str) -> dict[str, Any]:
    """One API Gateway event from events/ (the files `sam local invoke -e` takes)."""
    return json.loads((EVENTS / name).read_text())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_docker = pytest.mark.skip(reason="needs a Docker engine; set RUN_DOCKER_TESTS=1")
    skip_aws = pytest.mark.skip(reason="needs an AWS account; set RUN_AWS_TESTS=1")
    for item in items:
        if "docker" in item.keywords and os.environ.get("RUN_DOCKER_TESTS") != "1":
            item.add_marker(skip_docker)
        if "aws" in item.keywords and os.environ.get("RUN_AWS_TESTS") != "1":
            item.add_marker(skip_aws)
