"""Where the project's files are, for the tests and the bench alike."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"  # the files `sam local invoke -e` takes
FUNCTIONS = ROOT / "functions"  # functions/<name>/app.py, one folder a function

# The local API's own tests: a toy template and toy functions.
LOCALAPI_FIXTURES = ROOT / "tests" / "localapi" / "fixtures"
TOY_TEMPLATE = LOCALAPI_FIXTURES / "template.yaml"

# Every function behind a route or a queue: each folder of functions/ but the Secrets
# Manager rotation function (tests/rotation drives that one).
HANDLER_NAMES = tuple(
    sorted(p.name for p in FUNCTIONS.iterdir() if (p / "app.py").is_file() and p.name != "rotation")
)
