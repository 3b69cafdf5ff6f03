"""Cold starts: each function's import + module init in a fresh interpreter, as a ratio
to a floor measured in the same run.

The functions' folders and the layer are compiled first (as `sam build` ships them,
bytecode present). Each run is a new `python -c` that reads perf_counter, imports
functions/<name>/app.py by path (running its module init, as Lambda's runtime does
with the handler module) and reads perf_counter again; that difference is the figure,
so the interpreter's own start-up is excluded. A floor is the same measurement of what a
function cannot avoid importing, in its own fresh interpreter:

- the authorizer's: `jwt` with cryptography's EC backend, Powertools' `Logger` (made
  once, as the function makes it) and `http.client` (to reach the extension);
- an HTTP function's: `import boto3; boto3.client("dynamodb")`, `import jwt` and
  Powertools' `Logger` and `Metrics` (made once each).

Each round runs both floors, the bare start-up (`python -c pass`, wall clock) and every
function, in an order rotated each round; a function's ratio is the median over rounds
of its figure / its floor's figure in the same round, so the machine's load, which moves
both alike, cancels out. The budget is that ratio ≤ 1.25; the absolute medians are
printed beside it. Also reported: the modules each function has imported (len of
sys.modules after the import, the interpreter's own included) and the layer's size.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.common import ROOT, Row, median, ms, scrubbed_environment
from tests.support.paths import FUNCTIONS

SECTION = "cold start"
MAIL_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/stateless-auth-MailQueue"
MAX_RATIO = 1.25
AUTHORIZER_FLOOR = "authorizer floor"
HTTP_FLOOR = "HTTP floor"
# What each floor imports and makes (the code runs in the child, timed as a function is).
FLOORS = {
    AUTHORIZER_FLOOR: (
        "import jwt, jwt.algorithms\n"
        "from cryptography.hazmat.primitives.asymmetric import ec\n"
        "from aws_lambda_powertools import Logger\n"
        "import http.client\n"
        "Logger()\n"
    ),
    HTTP_FLOOR: (
        "import boto3\n"
        "boto3.client('dynamodb')\n"
        "import jwt\n"
        "from aws_lambda_powertools import Logger, Metrics\n"
        "Logger(); Metrics()\n"
    ),
}
FLOOR_TEXT = {
    AUTHORIZER_FLOOR: "jwt + cryptography EC + Powertools Logger() + http.client",
    HTTP_FLOOR: 'boto3 + boto3.client("dynamodb") + jwt + Powertools Logger() and Metrics()',
}
# Each function and the floor its budget is a ratio to. The mailer (SQS) has the HTTP
# functions' floor: it cannot avoid boto3 and Powertools either.
FUNCTION_FLOORS = {
    "authorizer": AUTHORIZER_FLOOR,
    "signup": HTTP_FLOOR,
    "login": HTTP_FLOOR,
    "refresh": HTTP_FLOOR,
    "logout": HTTP_FLOOR,
    "verify_email": HTTP_FLOOR,
    "password_reset": HTTP_FLOOR,
    "me": HTTP_FLOOR,
    "sessions": HTTP_FLOOR,
    "account": HTTP_FLOOR,
    "jwks": HTTP_FLOOR,
    "mailer": HTTP_FLOOR,
    "mfa": HTTP_FLOOR,
    "mfa_verify": HTTP_FLOOR,
}
FORBIDDEN = ("boto3", "pydantic", "aws_xray_sdk")
WATCHED = ("boto3", "botocore", "pydantic", "aws_xray_sdk", "aws_lambda_powertools")
BUILT_LAYER = ROOT / ".aws-sam" / "build" / "SharedLayer"
LAYER_REQUIREMENTS = ROOT / "layers" / "shared" / "requirements.txt"
LAYER_PACKAGE = ROOT / "layers" / "shared" / "stateless_auth"

PRELUDE = """\
import time
_started = time.perf_counter()
import importlib.util, json, sys
"""
RESULT = f"""\
_elapsed = time.perf_counter() - _started
print(json.dumps({{
    "seconds": _elapsed,
    "loaded": sorted(n for n in {WATCHED!r} if n in sys.modules),
    "modules": len(sys.modules),
}}))
"""
FUNCTION_CHILD = (
    PRELUDE
    + """\
_spec = importlib.util.spec_from_file_location("app", sys.argv[1])
_module = importlib.util.module_from_spec(_spec)
sys.modules["app"] = _module
_spec.loader.exec_module(_module)
"""
    + RESULT
)


def compile_bytecode() -> None:
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "functions", "layers/shared"],
        cwd=ROOT,
        check=True,
    )


def _child(name: str, env: dict[str, str]) -> tuple[dict[str, Any], float]:
    """One fresh interpreter importing function ``name`` (or running floor ``name``)."""
    if name in FLOORS:
        arguments = ["-c", PRELUDE + FLOORS[name] + RESULT]
    else:
        arguments = ["-c", FUNCTION_CHILD, str(FUNCTIONS / name / "app.py")]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"cold start of {name} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result, wall


def _bare(env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - started


def _tree_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def _requirement_names(path: Path) -> list[str]:
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "--")) and "==" in line:
            names.append(line.split("==", 1)[0].strip())
    return names


def layer_size() -> Row:
    """The built layer's size if `make build` made one, else the installed size of what it
    holds: the stateless_auth package (sources and bytecode) and the distributions that
    layers/shared/requirements.txt pins, as installed in this virtualenv (this platform's
    wheels; the layer ships arm64's)."""
    if BUILT_LAYER.is_dir():
        size, count = _tree_size(BUILT_LAYER)
        what = f"the built layer, {BUILT_LAYER.relative_to(ROOT)}: {count} files"
    else:
        size, count = _tree_size(LAYER_PACKAGE)
        parts = [f"stateless_auth {size / 1e6:.1f} MB"]
        missing = []
        for name in _requirement_names(LAYER_REQUIREMENTS):
            try:
                files = metadata.distribution(name).files or []
            except metadata.PackageNotFoundError:
                missing.append(name)
                continue
            located = [Path(str(f.locate())) for f in files]
            dist_size = sum(p.stat().st_size for p in located if p.is_file())
            size += dist_size
            count += len(located)
            parts.append(f"{name} {dist_size / 1e6:.1f} MB")
        what = (
            "not built (no .aws-sam/build/SharedLayer): the installed package + the"
            f" requirements' distributions in this virtualenv, {count} files: "
            + ", ".join(parts)
            + (f"; not installed: {', '.join(missing)}" if missing else "")
            + "; boto3 is the runtime's, not the layer's"
        )
    return Row(
        SECTION,
        "shared layer size (unzipped)",
        float(size),
        f"{size / 1e6:.1f} MB",
        note=what,
        data={"bytes": size, "files": count, "built": BUILT_LAYER.is_dir()},
    )


def run(*, repeats: int = 9) -> list[Row]:
    compile_bytecode()
    # A closed port: module init must not need the extension (keys load on first call).
    # The queue's URL as the template gives it (!Ref MailQueue); init only reads it.
    env = scrubbed_environment(
        {"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "9", "MAIL_QUEUE_URL": MAIL_QUEUE_URL}
    )
    names = [*FLOORS, *FUNCTION_FLOORS]
    for name in names:  # one discarded run each: page cache, first compile of anything
        _child(name, env)
    _bare(env)
    inside: dict[str, list[float]] = {name: [] for name in names}
    walls: dict[str, list[float]] = {name: [] for name in names}
    modules: dict[str, list[int]] = {name: [] for name in names}
    loaded: dict[str, set[str]] = {name: set() for name in names}
    bare: list[float] = []
    for index in range(repeats):
        order = names[index % len(names) :] + names[: index % len(names)]
        bare.append(_bare(env))
        for name in order:
            result, wall = _child(name, env)
            inside[name].append(float(result["seconds"]))
            walls[name].append(wall)
            modules[name].append(int(result["modules"]))
            loaded[name].update(result["loaded"])
    bare_median = median(bare)
    rows = [
        Row(
            SECTION,
            "bare interpreter start-up (python -c pass, wall)",
            bare_median,
            ms(bare_median),
            note=f"median of {repeats}; not part of the import + init figures",
            data={"runs": bare},
        )
    ]
    for floor in FLOORS:
        value = median(inside[floor])
        rows.append(
            Row(
                SECTION,
                f"{floor}: {FLOOR_TEXT[floor]} (import + init)",
                value,
                ms(value),
                note=f"median of {repeats}; {max(modules[floor])} modules",
                data={"runs": inside[floor], "modules": max(modules[floor])},
            )
        )
    for name, floor in FUNCTION_FLOORS.items():
        ratios = [f / b for f, b in zip(inside[name], inside[floor], strict=True)]
        ratio = median(ratios)
        value = median(inside[name])
        count = max(modules[name])
        rows.append(
            Row(
                SECTION,
                f"{name} import + init / {floor}",
                ratio,
                f"{ratio:.2f}x ({ms(value)}; floor {ms(median(inside[floor]))})",
                budget=f"≤ {MAX_RATIO:.2f}x",
                passed=ratio <= MAX_RATIO,
                note=(
                    f"median of {repeats} same-round ratios (range {min(ratios):.2f}-"
                    f"{max(ratios):.2f}); {count} modules imported"
                    f" ({count - max(modules[floor]):+d} vs its floor); wall incl."
                    f" start-up {ms(median(walls[name]))}"
                ),
                data={
                    "ratios": ratios,
                    "runs": inside[name],
                    "floor_runs": inside[floor],
                    "wall_runs": walls[name],
                    "modules": count,
                    "loaded": sorted(loaded[name]),
                },
            )
        )
    rows.append(
        Row(
            SECTION,
            "modules imported per function (len(sys.modules) after import + init)",
            None,
            ", ".join(f"{name} {max(modules[name])}" for name in FUNCTION_FLOORS),
            note="floors: "
            + ", ".join(f"{floor} {max(modules[floor])}" for floor in FLOORS)
            + "; the interpreter's own modules included",
        )
    )
    rows.append(layer_size())
    heavy = sorted(loaded["authorizer"] & set(FORBIDDEN))
    others = sorted(loaded["authorizer"] - set(FORBIDDEN))
    rows.append(
        Row(
            SECTION,
            "authorizer import path: boto3 / pydantic / aws_xray_sdk",
            float(len(heavy)),
            ", ".join(heavy) or "none loaded",
            budget="none",
            passed=not heavy,
            note="sys.modules after import; also loaded: "
            + (", ".join(others) or "nothing watched"),
        )
    )
    return rows
