"""Makefile targets around the template: `make rotate-keys FORCE=1`, the checkov skips, and
the pip-audit wrapper that `make audit` runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from samtranslator.yaml_helper import yaml_parse

from stateless_auth.tokens.rotation import EARLY_ROTATION_TAG
from tests.support.paths import ROOT

pytestmark = pytest.mark.xdist_group("template")

SECRET_ARN = (
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:stateless-auth-signing-keys-AbC123"
)

FAKE_AWS = """#!/bin/sh
echo "$*" >> "$AWS_CALLS"
if [ "$1 $2" = "cloudformation describe-stacks" ]; then echo "{arn}"; fi
"""


def _rotate_keys(
    tmp_path: Path, *arguments: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`make rotate-keys ARGS` against a stand-in `aws` that records its calls."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "aws"
    fake.write_text(FAKE_AWS.format(arn=SECRET_ARN), encoding="utf-8")
    fake.chmod(0o755)
    calls = tmp_path / "calls"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "AWS_CALLS": str(calls),
    }
    result = subprocess.run(
        ["make", "-s", "rotate-keys", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    recorded = calls.read_text(encoding="utf-8").splitlines() if calls.exists() else []
    return result, recorded


def test_rotate_keys_force_allows_an_early_rotation_for_15_minutes_first(tmp_path: Path) -> None:
    before = int(time.time())
    result, calls = _rotate_keys(tmp_path, "FORCE=1", "STACK=my-stack")
    after = int(time.time())
    assert result.returncode == 0, result.stdout + result.stderr
    assert [call.split()[:2] for call in calls] == [
        ["cloudformation", "describe-stacks"],
        ["secretsmanager", "tag-resource"],
        ["secretsmanager", "rotate-secret"],
    ]
    assert "--stack-name my-stack" in calls[0]
    match = re.search(rf"--tags Key={re.escape(EARLY_ROTATION_TAG)},Value=(\d+)$", calls[1])
    assert match, calls[1]
    assert before + 900 <= int(match.group(1)) <= after + 900
    assert f"--secret-id {SECRET_ARN}" in calls[1]
    assert f"--secret-id {SECRET_ARN}" in calls[2]


def test_rotate_keys_without_force_sets_no_tag(tmp_path: Path) -> None:
    result, calls = _rotate_keys(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [call.split()[:2] for call in calls] == [
        ["cloudformation", "describe-stacks"],
        ["secretsmanager", "rotate-secret"],
    ]


def test_rotate_keys_refuses_an_unclear_force(tmp_path: Path) -> None:
    result, calls = _rotate_keys(tmp_path, "FORCE=yes")
    assert result.returncode != 0
    assert not [call for call in calls if call.startswith("secretsmanager")]


def test_every_checkov_skip_says_why_next_to_its_resource() -> None:
    template = yaml_parse((ROOT / "template.yaml").read_text(encoding="utf-8"))
    skips = 0
    for logical_id, resource in template["Resources"].items():
        for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", []):
            skips += 1
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (logical_id, skip)
            comment = skip.get("comment", "")
            assert comment.strip(), (logical_id, skip["id"])
            assert "\n" not in comment, (logical_id, skip["id"])
            assert len(comment) <= 160, (logical_id, skip["id"], len(comment))
    assert skips, "checkov's findings are fixed or skipped here; none skipped is suspicious"


# A stand-in for pip-audit: answers per --vulnerability-service as the environment says.
FAKE_PIP_AUDIT = """#!/bin/sh
service=""
while [ $# -gt 0 ]; do
  if [ "$1" = "--vulnerability-service" ]; then service="$2"; fi
  shift
done
case "$service:$FAKE_MODE" in
  osv:*) echo "requests.exceptions.ConnectionError: Failed to resolve 'api.osv.dev'" >&2; exit 1;;
  pypi:offline) echo '{"dependencies": [{"name": "idna", "skip_reason": "Dependency not found on PyPI"}], "fixes": []}';;
  pypi:clean) echo '{"dependencies": [{"name": "idna", "version": "3.20", "vulns": []}], "fixes": []}';;
  pypi:vulnerable) echo '{"dependencies": [{"name": "idna", "version": "3.20", "vulns": [{"id": "PYSEC-0", "fix_versions": ["3.21"]}]}], "fixes": []}'; exit 1;;
esac
"""


@pytest.mark.parametrize(
    ("mode", "returncode", "printed"),
    [
        ("offline", 0, "SKIPPED pip-audit: no advisory database could be used (osv: "),
        ("clean", 0, "pip-audit (pypi): 1 pins audited"),
        ("vulnerable", 1, "VULNERABLE idna==3.20: PYSEC-0 (fixed in 3.21)"),
    ],
)
def test_audit_skips_visibly_when_offline_and_fails_on_a_vulnerable_pin(
    tmp_path: Path, mode: str, returncode: int, printed: str
) -> None:
    fake = tmp_path / "pip-audit"
    fake.write_text(FAKE_PIP_AUDIT, encoding="utf-8")
    fake.chmod(0o755)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("idna==3.20\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "audit_pins.py"), str(requirements)],
        env={**os.environ, "PIP_AUDIT": str(fake), "FAKE_MODE": mode},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == returncode, result.stdout + result.stderr
    assert printed in result.stdout
