"""schemathesis against openapi.yaml through the local API: every operation, its
examples, coverage, fuzzing and stateful phases (the document's links, and those
schemathesis infers), with every default check ("no 5xx" among them) but those
tests/fuzz/schemathesis.toml turns off or widens, each with its reason.

A bounded run in `make test` (SCHEMATHESIS_MAX_EXAMPLES, 10 per operation by default);
`make fuzz` runs it with more. The protected routes get a bearer token of a real,
verified account (signed up through the local API's mailbox).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from localapi.testing import running_local_api
from tests.support.http_client import Client
from tests.support.local_mail import sign_up_and_verify

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CONFIG = Path(__file__).with_name("schemathesis.toml")
# The account of openapi.yaml's login examples: its examples phase then logs in for real
# and the stateful phase follows the Tokens answer's link to refresh.
EMAIL = "ann@example.com"
PASSWORD = "correct horse battery staple"  # the document's example


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    with running_local_api() as base_url:
        yield base_url


def access_token(base_url: str) -> str:
    client = Client(base_url)
    sign_up_and_verify(client, EMAIL, PASSWORD)
    reply = client.call(
        "POST",
        "/auth/login",
        {"email": EMAIL, "password": PASSWORD, "refresh_token_delivery": "body"},
    )
    assert reply.status == 200, (reply.status, reply.raw)
    return str(reply.json()["access_token"])


def test_schemathesis_finds_no_failure(api: str, tmp_path: Path) -> None:
    examples = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10")
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{api}/openapi.json",
        "--header",
        f"Authorization: Bearer {access_token(api)}",
        "--max-examples",
        examples,
        "--workers",
        "1",
        "--generation-database",
        "none",
    ]
    if os.environ.get("SCHEMATHESIS_SEED"):
        command += ["--seed", os.environ["SCHEMATHESIS_SEED"]]
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, timeout=1800, check=False
    )
    summary = result.stdout[-6000:]
    print(summary)  # the counts, shown with `pytest -s`
    assert result.returncode == 0, (
        f"schemathesis failed (exit {result.returncode}):\n{result.stdout[-20000:]}\n"
        f"{result.stderr[-5000:]}\nlocal API:\n{api.stderr()[-5000:] if hasattr(api, 'stderr') else ''}"
    )
