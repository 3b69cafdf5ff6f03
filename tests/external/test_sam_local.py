"""`sam local invoke` with the events/ files: needs Docker, so skipped unless RUN_DOCKER_TESTS=1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import EVENTS, ROOT, TEMPLATE

pytestmark = pytest.mark.docker
SAM = Path(ROOT / ".venv" / "bin" / "sam")


def test_me_function_answers_its_event_in_the_lambda_container(tmp_path: Path) -> None:
    if not SAM.exists() or shutil.which("docker") is None:
        pytest.fail("RUN_DOCKER_TESTS=1 but sam or docker is missing")
    env = {**os.environ, "PYENV_VERSION": "3.13.0"}
    build = tmp_path / "build"
    subprocess.run(
        [
            str(SAM),
            "build",
            "--template-file",
            str(TEMPLATE),
            "--build-dir",
            str(build),
        ],
        check=True,
        cwd=ROOT,
        env=env,
    )
    result = subprocess.run(
        [
            str(SAM),
            "local",
            "invoke",
            "MeFunction",
            "-t",
            str(build / "template.yaml"),
            "-e",
            str(EVENTS / "me.json"),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    reply = json.loads(result.stdout.strip().splitlines()[-1])
    assert reply["statusCode"] == 200
    assert json.loads(reply["body"])["email"] == "ann@example.com"
