"""Cold starts: each function's import + module init in a fresh interpreter.

The functions' folders and the layer are compiled first (as `sam build` ships them,
bytecode present). Each run is a new `python -c` that reads perf_counter, imports
functions/<name>/app.py by path (running its module init, as Lambda's runtime does
with the handler module) and reads perf_counter again; that difference is the figure,
so the interpreter's own start-up is excluded. The bare start-up (`python -c pass`,
wall clock from this process) is measured in the same rounds and reported beside it.
Runs are interleaved across functions, repeated, and the median is taken.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from bench.common import ROOT, Row, median, ms, scrubbed_environment
from tests.support.paths import FUNCTIONS

SECTION = "cold start"
MAIL_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/stateless-auth-MailQueue"
BUDGETS_MS = {
    "authorizer": 150.0,
    "signup": 400.0,
    "login": 400.0,
    "refresh": 400.0,
    "logout": 400.0,
    "verify_email": 400.0,
    "password_reset": 400.0,
    "mailer": 400.0,
    "sessions": 400.0,
    "account": 400.0,
}
FORBIDDEN = ("boto3", "pydantic", "aws_xray_sdk")
WATCHED = ("boto3", "botocore", "pydantic", "aws_xray_sdk", "aws_lambda_powertools")

CHILD = """\
import time
_started = time.perf_counter()
import importlib.util, json, sys
_spec = importlib.util.spec_from_file_location("app", sys.argv[1])
_module = importlib.util.module_from_spec(_spec)
sys.modules["app"] = _module
_spec.loader.exec_module(_module)
_elapsed = time.perf_counter() - _started
print(json.dumps({
    "seconds": _elapsed,
    "loaded": sorted(n for n in %r if n in sys.modules),
    "modules": len(sys.modules),
}))
"""


def compile_bytecode() -> None:
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "functions", "layers/shared"],
        cwd=ROOT,
        check=True,
    )


def _child(name: str, env: dict[str, str]) -> tuple[dict[str, Any], float]:
    path = str(FUNCTIONS / name / "app.py")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD % (WATCHED,), path],
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


def run(*, repeats: int = 7) -> list[Row]:
    compile_bytecode()
    # A closed port: module init must not need the extension (keys load on first call).
    # The queue's URL as the template gives it (!Ref MailQueue); init only reads it.
    env = scrubbed_environment(
        {"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "9", "MAIL_QUEUE_URL": MAIL_QUEUE_URL}
    )
    names = list(BUDGETS_MS)
    for name in names:  # one discarded run each: page cache, first compile of anything
        _child(name, env)
    _bare(env)
    inside: dict[str, list[float]] = {name: [] for name in names}
    walls: dict[str, list[float]] = {name: [] for name in names}
    loaded: dict[str, set[str]] = {name: set() for name in names}
    bare: list[float] = []
    for index in range(repeats):
        order = names[index % len(names) :] + names[: index % len(names)]
        bare.append(_bare(env))
        for name in order:
            result, wall = _child(name, env)
            inside[name].append(float(result["seconds"]))
            walls[name].append(wall)
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
    for name in names:
        value = median(inside[name])
        budget = BUDGETS_MS[name] / 1e3
        note = f"median of {repeats}; wall incl. start-up {ms(median(walls[name]))}"
        rows.append(
            Row(
                SECTION,
                f"{name} import + init (excl. interpreter start-up)",
                value,
                ms(value),
                budget=f"≤ {BUDGETS_MS[name]:.0f} ms",
                passed=value <= budget,
                note=note,
                data={
                    "runs": inside[name],
                    "wall_runs": walls[name],
                    "loaded": sorted(loaded[name]),
                },
            )
        )
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
