"""Every function behind an HTTP route goes through the HTTP handler decorator, whose
checks (JSON-only bodies, the cross-site rule, the error table) no handler may skip: a
new route that forgets it fails here, not in production (docs/routes.md)."""

from __future__ import annotations

import ast
from typing import Any

import pytest

from tests.support.aws import project_template
from tests.support.paths import ROOT


def http_functions() -> list[tuple[str, str]]:
    resources: dict[str, Any] = project_template()["Resources"]
    found = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        events = (resource.get("Properties") or {}).get("Events") or {}
        if any(event.get("Type") == "HttpApi" for event in events.values()):
            found.append((logical_id, str(resource["Properties"]["CodeUri"])))
    return sorted(found)


def guarded(source: str) -> bool:
    """lambda_handler is decorated with http_handler(..., allowed_origins=...)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == "lambda_handler":
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Name)
                    and decorator.func.id == "http_handler"
                    and any(k.arg == "allowed_origins" for k in decorator.keywords)
                ):
                    return True
    return False


def test_the_template_has_http_functions() -> None:
    assert len(http_functions()) >= 6


@pytest.mark.parametrize(("logical_id", "code_uri"), http_functions())
def test_the_function_uses_the_http_handler(logical_id: str, code_uri: str) -> None:
    source = (ROOT / code_uri / "app.py").read_text(encoding="utf-8")
    assert guarded(source), f"{logical_id}: lambda_handler is not wrapped in http_handler"


def test_an_unguarded_handler_is_caught() -> None:
    assert not guarded("def lambda_handler(event, context):\n    return {}\n")
    assert not guarded("@http_handler(logger)\ndef lambda_handler(event, context):\n    pass\n")
