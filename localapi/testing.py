"""Run the local API as a subprocess in tests.

::

    from localapi.testing import running_local_api

    with running_local_api({"ACCESS_TOKEN_TTL_SECONDS": "5"}) as base_url:
        urllib.request.urlopen(f"{base_url}/.well-known/jwks.json")

Importing this module imports neither moto nor boto3.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

READY_PATTERN = re.compile(r"listening on (http://\S+)")
DEFAULT_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0


class LocalApiFailed(RuntimeError):
    """The local API did not become ready; the message carries its stderr."""


class LocalApiUrl(str):
    """The base URL (a plain ``str``) that can also show what the server printed."""

    stderr_path: Path

    def __new__(cls, url: str, stderr_path: Path) -> LocalApiUrl:
        instance = super().__new__(cls, url)
        instance.stderr_path = stderr_path
        return instance

    def stderr(self) -> str:
        """What the server printed on stderr so far (access log, tracebacks)."""
        return _tail(self.stderr_path, limit=10_000_000)


def _tail(path: Path, limit: int = 20000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""


@contextlib.contextmanager
def running_local_api(
    env: Mapping[str, str] | None = None,
    template: str | os.PathLike[str] = "template.yaml",
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    host: str = "127.0.0.1",
    examples: Sequence[str] = (),
) -> Iterator[LocalApiUrl]:
    """Start ``python -m localapi --port 0`` with ``env`` added; yield its base URL.

    ``examples``: example stacks served beside it (``--example protected-api``).

    The URL is a ``str`` (``http://127.0.0.1:<port>``) with ``.stderr()`` for diagnostics.

    The subprocess inherits this process's environment plus ``env``; its stdout and
    stderr go to temporary files (so a chatty handler can never block it). On exit it is
    stopped with SIGTERM (SIGKILL after 10 s). If it does not print its ready line within
    ``timeout`` seconds, LocalApiFailed is raised with its stderr.
    """
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    template_path = Path(template).resolve()
    with tempfile.TemporaryDirectory(prefix="localapi-") as directory:
        stdout_path = Path(directory) / "stdout.log"
        stderr_path = Path(directory) / "stderr.log"
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            arguments = ["--host", host, "--port", "0", "--template", str(template_path)]
            arguments += [option for name in examples for option in ("--example", name)]
            process = subprocess.Popen(  # noqa: S603 - fixed arguments
                [sys.executable, "-m", "localapi", *arguments],
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                env=environment,
                cwd=str(template_path.parent),
            )
        try:
            yield LocalApiUrl(
                wait_until_ready(process, stdout_path, stderr_path, timeout), stderr_path
            )
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_ready(
    process: subprocess.Popen[bytes],
    stdout_path: Path,
    stderr_path: Path,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> str:
    """Wait for the ready line in ``stdout_path``; return the URL it names."""
    deadline = time.monotonic() + timeout
    while True:
        match = READY_PATTERN.search(_tail(stdout_path, limit=1_000_000))
        if match:
            return match.group(1)
        if process.poll() is not None:
            raise LocalApiFailed(
                f"the local API exited with code {process.returncode} before it was ready; "
                f"stderr:\n{_tail(stderr_path)}"
            )
        if time.monotonic() > deadline:
            raise LocalApiFailed(
                f"the local API was not ready after {timeout:g}s; stderr:\n{_tail(stderr_path)}"
            )
        time.sleep(0.05)
