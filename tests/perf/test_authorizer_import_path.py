"""The authorizer's import path stays light: checked in a fresh interpreter, not timed.

Speed budgets live in `make bench`; this guard only looks at what importing the handler
loads and does, so it cannot flake on a noisy machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import ROOT

AUTHORIZER = ROOT / "functions" / "authorizer" / "app.py"

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


def function_environment() -> dict[str, str]:
    """Everything template.yaml gives the authorizer, and no real AWS settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "JWT_AUDIENCE": "stateless-auth-test",
            "JWT_ISSUER": "https://api.example.test",
            "ACCESS_TOKEN_TTL_SECONDS": "900",
            "REFRESH_TOKEN_TTL_SECONDS": "7776000",
            "MAX_FAILED_LOGINS": "5",
            "LOCKOUT_SECONDS": "300",
            "PASSWORD_MIN_LENGTH": "15",
            "ALLOWED_ORIGINS": "",
            "USERS_TABLE": "UsersTable",
            "SESSIONS_TABLE": "SessionsTable",
            "PUBLIC_KEYS_SECRET_ID": "stateless-auth-test-public-keys",
            # Nothing listens here: importing the handler must not need the extension.
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "9",
            "POWERTOOLS_SERVICE_NAME": "stateless-auth",
            "POWERTOOLS_METRICS_NAMESPACE": "StatelessAuthTest",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
    )
    return env


@pytest.fixture(scope="module")
def fresh_import() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(AUTHORIZER)],
        cwd=ROOT,
        env=function_environment(),
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
