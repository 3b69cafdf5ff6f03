"""The layers of the shared package hold, read from its source (a small AST walk).

    domain  <-  config  <-  tokens, storage  <-  usecases  <-  http  <-  wiring

A module may import from its own layer and the layers to its left, never from the
right; tokens and storage never import each other. Imports inside functions and under
TYPE_CHECKING count too. pyjwt and cryptography are imported only in tokens, boto3,
botocore and http.client only in storage, Powertools only in http. Every __init__.py is
empty, so importing one module never pulls in its neighbours.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.paths import ROOT

PACKAGE = ROOT / "layers" / "shared" / "stateless_auth"
NAME = "stateless_auth"
RANK = {"domain": 0, "config": 1, "tokens": 2, "storage": 2, "usecases": 3, "http": 4, "wiring": 5}
APART = {frozenset({"tokens", "storage"})}
ONLY_IN = {
    "jwt": {"tokens"},
    "cryptography": {"tokens"},
    "boto3": {"storage"},
    "botocore": {"storage"},
    "http.client": {"storage"},
    "aws_lambda_powertools": {"http"},
}


def module_name(path: Path, package: Path) -> str:
    parts = [NAME, *path.relative_to(package).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    """The layer of one of our modules ("stateless_auth.http.errors" -> "http")."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == NAME else None


def imported_modules(path: Path, package: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in the file (`from a import b` as a.b)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path, package).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the file's own package upwards
                anchor = here[: len(here) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def violations(package: Path) -> list[str]:
    """Every import in the package that breaks the layering, as `file:line: why`."""
    problems: list[str] = []
    for path in sorted(package.rglob("*.py")):
        module = module_name(path, package)
        if module == NAME:
            continue  # the package's own __init__.py, empty (below)
        layer = layer_of(module)
        where = path.relative_to(package.parent)
        if layer not in RANK:
            problems.append(f"{where}: {layer!r} is in no layer (add it to RANK)")
            continue
        for line, imported in imported_modules(path, package):
            target = layer_of(imported)
            if target is not None and target in RANK and target != layer:
                if RANK[target] > RANK[layer]:
                    problems.append(f"{where}:{line}: {layer} imports {imported}, a layer above")
                elif frozenset({layer, target}) in APART:
                    problems.append(f"{where}:{line}: {layer} imports {imported} ({target})")
            for library, allowed in ONLY_IN.items():
                if (imported == library or imported.startswith(library + ".")) and (
                    layer not in allowed
                ):
                    problems.append(f"{where}:{line}: {layer} imports {imported}")
    return sorted(set(problems))


def test_no_module_imports_from_a_layer_above() -> None:
    assert violations(PACKAGE) == []


def dynamic_imports(package: Path) -> list[str]:
    """Calls that import by name (importlib.import_module, __import__): the AST walk above
    cannot see where they lead, so the package makes none."""
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            target = node.func
            name = (
                target.attr
                if isinstance(target, ast.Attribute)
                else target.id
                if isinstance(target, ast.Name)
                else ""
            )
            if name in {"import_module", "__import__"}:
                found.append(f"{path.relative_to(package)}:{node.lineno} {name}")
    return found


def test_no_module_imports_by_name() -> None:
    assert dynamic_imports(PACKAGE) == []


def test_an_import_by_name_is_caught(tmp_path: Path) -> None:
    write(tmp_path, "domain/sneaky.py", "import importlib\nimportlib.import_module('boto3')\n")
    write(tmp_path, "domain/sneakier.py", "__import__('stateless_auth.http.errors')\n")
    assert len(dynamic_imports(tmp_path)) == 2


def test_every_init_file_is_empty() -> None:
    inits = sorted(PACKAGE.rglob("__init__.py"))
    assert len(inits) == 1 + len({"domain", "tokens", "storage", "usecases", "http"})
    assert [p for p in inits if p.read_bytes().strip()] == []


def write(root: Path, relative: str, source: str) -> None:
    path = root / NAME / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    for folder in path.relative_to(root / NAME).parents:
        (root / NAME / folder / "__init__.py").touch()
    path.write_text(source)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A package laid out like ours, whose every import is allowed."""
    write(tmp_path, "domain/errors.py", "class Oops(Exception): ...\n")
    write(tmp_path, "config.py", "from stateless_auth.domain.errors import Oops\n")
    write(tmp_path, "tokens/access.py", "import jwt\nfrom ..domain import errors\n")
    write(tmp_path, "storage/users.py", "import botocore.exceptions\n")
    write(tmp_path, "usecases/login.py", "from stateless_auth.tokens import access\n")
    write(tmp_path, "http/errors.py", "from aws_lambda_powertools import Logger\n")
    write(tmp_path, "wiring.py", "from stateless_auth import config, http\n")
    return tmp_path / NAME


def test_the_check_passes_a_layered_tree(tree: Path) -> None:
    assert violations(tree) == []


@pytest.mark.parametrize(
    ("relative", "source", "why"),
    [
        ("domain/errors.py", "from stateless_auth.http.errors import x\n", "a layer above"),
        ("domain/errors.py", "from stateless_auth import wiring\n", "a layer above"),
        ("domain/errors.py", "from ..usecases import login\n", "a layer above"),
        ("config.py", "import stateless_auth.storage.users\n", "a layer above"),
        (
            "storage/users.py",
            "def lazily():\n    from stateless_auth.usecases.login import x\n",
            "a layer above",
        ),
        (
            "tokens/access.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from stateless_auth.http import errors\n",
            "a layer above",
        ),
        ("tokens/access.py", "from stateless_auth.storage.users import x\n", "(storage)"),
        ("storage/users.py", "from stateless_auth.tokens.keys import x\n", "(tokens)"),
        ("domain/errors.py", "import jwt\n", "domain imports jwt"),
        ("usecases/login.py", "import boto3\n", "usecases imports boto3"),
        ("tokens/access.py", "from aws_lambda_powertools import Logger\n", "imports aws_lambda"),
        ("adapters.py", "x = 1\n", "in no layer"),
    ],
)
def test_the_check_catches_every_wrong_import(
    tree: Path, relative: str, source: str, why: str
) -> None:
    write(tree.parent, relative, source)
    found = violations(tree)
    assert len(found) == 1, found
    assert why in found[0]
    assert found[0].startswith(f"{NAME}/{relative}")
