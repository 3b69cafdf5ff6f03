"""Audit pinned requirements files with pip-audit, as `make audit` (and `make test`) runs it.

Each file is audited exactly as pinned (`--no-deps --disable-pip`: nothing is resolved or
installed). OSV is asked first, then PyPI's advisory data. A pin with a known
vulnerability fails the run. When no advisory database answers for any pin (offline, or
an index that does not serve PyPI's per-release JSON), the audit did not happen: that is
printed as a visible ``SKIPPED pip-audit: <reason>`` and the run passes, as does a run in
which some pins could not be looked up (they are listed).

Usage: python scripts/audit_pins.py REQUIREMENTS_FILE... (with pip-audit installed beside
this Python, as in .venv-checkov, or named by the PIP_AUDIT environment variable).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

# Each service, and a URL that answers quickly when it can be reached at all.
SERVICES = {
    "osv": "https://api.osv.dev/v1/query",
    "pypi": "https://pypi.org/pypi/pip/json",
}
TIMEOUT_SECONDS = 15
PROBE_SECONDS = 5
RUN_SECONDS = 180  # a run that takes longer is treated as unreachable, to keep make test fast


def _pip_audit() -> str:
    override = os.environ.get("PIP_AUDIT")  # the tests' stand-in
    if override:
        return override
    beside = Path(sys.executable).with_name("pip-audit")
    if not beside.exists():
        sys.exit(f"pip-audit is not installed beside {sys.executable}")
    return str(beside)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _unreachable(url: str) -> str:
    """Why ``url`` cannot be reached within PROBE_SECONDS, or "" (any HTTP answer will do).

    Without it, a network that drops packets would cost a timeout per pin.
    """
    data = b"{}" if url.endswith("/query") else None
    request = urllib.request.Request(url, data=data)  # noqa: S310 - the https URLs above
    try:
        with urllib.request.urlopen(request, timeout=PROBE_SECONDS):  # noqa: S310
            return ""
    except urllib.error.HTTPError:
        return ""  # it answered
    except (OSError, ValueError) as exc:
        return f"{url} cannot be reached ({exc})"


def _run(service: str, files: list[str]) -> tuple[dict[str, Any] | None, str]:
    """pip-audit's JSON report for ``service``, or None and why there is none."""
    # (a stand-in pip-audit, as the tests use, needs no network)
    unreachable = "" if os.environ.get("PIP_AUDIT") else _unreachable(SERVICES[service])
    if unreachable:
        return None, f"{service}: {unreachable}"
    command = [_pip_audit(), "--progress-spinner", "off", "--no-deps", "--disable-pip"]
    command += ["--vulnerability-service", service, "--timeout", str(TIMEOUT_SECONDS)]
    command += ["--format", "json"]
    for name in files:
        command += ["--requirement", name]
    try:
        # The command is pip-audit beside this Python and the file names given to it.
        result = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, timeout=RUN_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return None, f"{service}: no complete answer within {RUN_SECONDS} s"
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return None, f"{service}: {_last_line(result.stderr)[:300]}"
    if not isinstance(report, dict) or not isinstance(report.get("dependencies"), list):
        return None, f"{service}: unexpected report {result.stdout[:200]!r}"
    return report, ""


def main(files: list[str]) -> int:
    if not files:
        print(__doc__, file=sys.stderr)
        return 2
    reasons: list[str] = []
    for service in SERVICES:
        report, reason = _run(service, files)
        if report is None:
            reasons.append(reason)
            continue
        dependencies: list[dict[str, Any]] = report["dependencies"]
        audited = [d for d in dependencies if "skip_reason" not in d]
        skipped = [d for d in dependencies if "skip_reason" in d]
        if not audited:
            example = skipped[0]["skip_reason"] if skipped else "no pins"
            reasons.append(f"{service}: none of {len(skipped)} pins could be looked up ({example})")
            continue
        vulnerable = [d for d in audited if d.get("vulns")]
        for dependency in vulnerable:
            for vuln in dependency["vulns"]:
                fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
                print(
                    f"VULNERABLE {dependency['name']}=={dependency['version']}: "
                    f"{vuln.get('id')} (fixed in {fixes})"
                )
        if skipped:
            names = ", ".join(sorted({str(d["name"]) for d in skipped}))
            print(f"pip-audit ({service}): not found, so not audited: {names}")
        print(
            f"pip-audit ({service}): {len(audited)} pins audited in {' '.join(files)}, "
            f"{len(vulnerable)} with known vulnerabilities"
        )
        return 1 if vulnerable else 0
    print(f"SKIPPED pip-audit: no advisory database could be used ({'; '.join(reasons)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
