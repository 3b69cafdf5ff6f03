"""What every part of the benchmark shares: paths, the functions' environment, rows,
timing helpers, handler import by path and a loopback key server."""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import secrets
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
EVENTS = ROOT / "events"
TEMPLATE = ROOT / "template.yaml"

AUDIENCE = "stateless-auth-bench"
PUBLIC_KEYS_SECRET_ID = "stateless-auth-bench-public-keys"
REGION = "us-east-1"

# What every function sees in AWS (template Globals) and nothing from the caller's own
# AWS configuration: the benchmark must never reach a real account.
BASE_ENVIRONMENT: Mapping[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "JWT_AUDIENCE": AUDIENCE,
    "JWT_ISSUER": "https://api.example.test",
    "ACCESS_TOKEN_TTL_SECONDS": "900",
    "REFRESH_TOKEN_TTL_SECONDS": "7776000",
    "MAX_FAILED_LOGINS": "5",
    "LOCKOUT_SECONDS": "300",
    "PASSWORD_MIN_LENGTH": "15",
    "ALLOWED_ORIGINS": "",
    "USERS_TABLE": "UsersTable",
    "SESSIONS_TABLE": "SessionsTable",
    "SIGNING_KEYS_SECRET_ID": "SigningKeysSecret",
    "PUBLIC_KEYS_SECRET_ID": PUBLIC_KEYS_SECRET_ID,
    "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "2773",
    "POWERTOOLS_SERVICE_NAME": "stateless-auth",
    "POWERTOOLS_METRICS_NAMESPACE": "StatelessAuthBench",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}


def scrubbed_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without AWS_* and PYTHON* settings, plus BASE_ENVIRONMENT and extra."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "PYTHON", "POWERTOOLS_"))
    }
    env.update(BASE_ENVIRONMENT)
    env.update(extra or {})
    return env


def apply_environment(extra: Mapping[str, str] | None = None) -> None:
    """Make this process's environment the functions' environment."""
    wanted = scrubbed_environment(extra)
    for key in [k for k in os.environ if k not in wanted]:
        del os.environ[key]
    os.environ.update(wanted)


@dataclass
class Row:
    """One line of the table: a figure, its value and, for budgeted figures, the verdict."""

    section: str
    figure: str
    value: float | None
    shown: str
    budget: str = ""
    passed: bool | None = None  # None: informational
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def within(value: float, limit: float) -> bool:
    return value <= limit


def load_event(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return document


def import_handler(name: str) -> ModuleType:
    """functions/<name>/app.py as Lambda loads it: by path, running its module init."""
    path = FUNCTIONS / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"bench_handler_{name}", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def time_per_call(call: Callable[[Any], object], items: list[Any]) -> float:
    """Seconds per call of call(item) over items, with the garbage collector paused."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        for item in items:
            call(item)
        elapsed = time.perf_counter() - started
    finally:
        if enabled:
            gc.enable()
    return elapsed / len(items)


def time_repeated(call: Callable[[], object], count: int) -> float:
    """Seconds per call of call() repeated count times, with the garbage collector paused."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        for _ in range(count):
            call()
        elapsed = time.perf_counter() - started
    finally:
        if enabled:
            gc.enable()
    return elapsed / count


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


class KeyServer:
    """A loopback HTTP server answering as the Parameters and Secrets Lambda Extension
    does for Secrets Manager GetSecretValue of the public key secret (the authorizer's key
    source), and as a plain JWKS endpoint (for the PyJWKClient peer). It counts every
    request so that warm paths can be shown to make none."""

    SECRET_PATH = "/secretsmanager/get"
    JWKS_PATH = "/.well-known/jwks.json"

    def __init__(self, jwks_document: str, secret_id: str = PUBLIC_KEYS_SECRET_ID) -> None:
        self.jwks_document = jwks_document
        self.secret_id = secret_id
        self.token = secrets.token_urlsafe(16)
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.JWKS_PATH}"

    def environment(self) -> dict[str, str]:
        return {
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(self.port),
            "AWS_SESSION_TOKEN": self.token,
        }

    def _answer(self, path: str, query: str, token: str) -> tuple[int, str]:
        with self._lock:
            self.requests[path] += 1
        if path == self.JWKS_PATH:
            return 200, self.jwks_document
        if path.rstrip("/") == self.SECRET_PATH:
            if token != self.token:
                return 401, '{"message":"Unauthorized"}'
            secret_id = parse_qs(query).get("secretId", [""])[0]
            if secret_id != self.secret_id:
                return 400, '{"__type":"ResourceNotFoundException"}'
            secret = {
                "ARN": f"arn:aws:secretsmanager:{REGION}:123456789012:secret:{secret_id}-AbCdEf",
                "Name": secret_id,
                "VersionId": "00000000-0000-4000-8000-000000000001",
                "SecretString": self.jwks_document,
                "VersionStages": ["AWSCURRENT"],
                "CreatedDate": "2025-01-01T00:00:00.000Z",
            }
            return 200, json.dumps({**secret, "ResultMetadata": {}})
        return 404, '{"message":"Not Found"}'

    def start(self) -> KeyServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                status, body = outer._answer(
                    parts.path,
                    parts.query,
                    self.headers.get("X-Aws-Parameters-Secrets-Token", ""),
                )
                payload = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="bench-key-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> KeyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
