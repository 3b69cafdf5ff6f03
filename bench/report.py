"""The table (plain text and Markdown), the machine it ran on, and bench/results.json."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.common import Row

PACKAGES = ("PyJWT", "cryptography", "joserfc", "argon2-cffi", "aws-lambda-powertools", "boto3")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "architecture": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "executable": sys.executable,
        "packages": versions,
    }


def verdict(row: Row) -> str:
    if row.passed is None:
        return ""
    return "pass" if row.passed else "FAIL"


def summary(rows: list[Row]) -> tuple[int, int]:
    budgeted = [row for row in rows if row.passed is not None]
    return sum(1 for row in budgeted if row.passed), len(budgeted)


def text_table(rows: list[Row]) -> str:
    headers = ("figure", "measured", "budget", "result")
    body = [(row.figure, row.shown, row.budget, verdict(row)) for row in rows]
    widths = [max(len(h), *(len(line[i]) for line in body)) for i, h in enumerate(headers)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    out = [line(headers), line(tuple("-" * w for w in widths))]
    section = None
    for row, cells in zip(rows, body, strict=True):
        if row.section != section:
            section = row.section
            out.append(f"[{section}]")
        out.append(line(cells).rstrip())
    return "\n".join(out)


def markdown_table(rows: list[Row]) -> str:
    out = ["| part | figure | measured | budget | result |", "| --- | --- | --- | --- | --- |"]
    for row in rows:
        cells = (row.section, row.figure, row.shown, row.budget, verdict(row))
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out)


def notes(rows: list[Row]) -> str:
    return "\n".join(f"- {row.figure}: {row.note}" for row in rows if row.note)


def write_json(path: Path, rows: list[Row], info: dict[str, Any], seconds: float) -> None:
    within, budgeted = summary(rows)
    document = {
        "generated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": info,
        "duration_seconds": round(seconds, 1),
        "summary": {"within_budget": within, "budgeted": budgeted},
        "rows": [row.as_dict() for row in rows],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
