"""The authorizer's import path stays light: checked in a fresh interpreter, not timed.

Speed budgets live in `make bench`; this guard only looks at what importing the handler
loads and does, so it cannot flake on a noisy machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.support.paths import FUNCTIONS, ROOT
from tests.support.settings import function_environment

AUTHORIZER = FUNCTIONS / "authorizer" / "app.py"

# Imports the handler by path, as Lambda's runtime imports app.py, and reports every
# module it loaded and every socket connection it tried.
CHILD = """\
import importlib.util, json, sys
connects = []
def audit(event, args):
    if event == "socket.connect":
        connects.append(repr(args[1]))
sys.addaudithook(audit)
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
print(json.dumps({
    "modules": sorted(sys.modules),
    "connects": connects,
    "handler": callable(getattr(module, "lambda_handler", None)),
}))
"""


@pytest.fixture(scope="module")
def fresh_import() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(AUTHORIZER)],
        cwd=ROOT,
        # The functions' settings and no real AWS settings; nothing listens on port 9:
        # importing the handler must not need the extension.
        env=function_environment({"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "9"}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_authorizer_imports_with_its_environment(fresh_import: dict[str, Any]) -> None:
    assert fresh_import["handler"]


# Powertools imports the botocore package itself for its user agent (its __init__ only,
# ~0.3 ms); the SDK machinery (sessions, clients, service models) must stay out.
@pytest.mark.parametrize(
    "package", ["boto3", "botocore.session", "botocore.client", "pydantic", "aws_xray_sdk"]
)
def test_the_authorizer_import_path_does_not_load(
    fresh_import: dict[str, Any], package: str
) -> None:
    loaded = [m for m in fresh_import["modules"] if m == package or m.startswith(package + ".")]
    assert loaded == [], f"importing functions/authorizer/app.py loads {package}: {loaded[:5]}"


def test_importing_the_authorizer_opens_no_connection(fresh_import: dict[str, Any]) -> None:
    # The key set is read on the first call, not at import (the extension may still be
    # starting while the runtime initialises).
    assert fresh_import["connects"] == []
