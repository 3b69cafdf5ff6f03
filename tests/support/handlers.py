"""The functions' handler modules as Lambda loads them, and invoking them.

A handler is functions/<name>/app.py imported by its file path, which runs its module
init (settings, clients, key stores) with the process's environment at that moment: set
the environment first. The context is the local API's (localapi.runtime.LambdaContext),
the attributes of the Python runtime's context object.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from localapi.runtime import LambdaContext
from tests.support.paths import FUNCTIONS

__all__ = ["LambdaContext", "Stack", "import_handler", "invoke"]


def import_handler(name: str, *, module_name: str | None = None) -> ModuleType:
    """functions/<name>/app.py, imported afresh (a cold start) under ``module_name``
    (default ``handler_<name>``); not put in sys.modules."""
    path = FUNCTIONS / name / "app.py"
    spec = importlib.util.spec_from_file_location(module_name or f"handler_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def invoke(handler: ModuleType, event: Mapping[str, Any], *, function_name: str = "") -> Any:
    """``handler.lambda_handler(event, context)`` with a fresh Lambda context."""
    context = LambdaContext(function_name=function_name) if function_name else LambdaContext()
    return handler.lambda_handler(event, context)


@dataclass
class Stack:
    """The functions' handlers, imported against one set of resources (the ``stack``
    fixture of tests/handlers/: moto, from the template)."""

    handlers: dict[str, ModuleType]
    dynamodb: Any
    tables: dict[str, str]
    issuer: str

    def invoke(self, name: str, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = invoke(self.handlers[name], event)
        return result
