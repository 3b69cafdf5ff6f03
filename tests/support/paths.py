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
