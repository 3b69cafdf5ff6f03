"""An emulation of the AWS Parameters and Secrets Lambda Extension's HTTP API.

The real extension listens on ``localhost:$PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`` and
answers

* ``GET /systemsmanager/parameters/get?name=<name>[&version=|&label=][&withDecryption=]``
  with the JSON of SSM GetParameter, and
* ``GET /secretsmanager/get?secretId=<id>[&versionId=|&versionStage=]`` with the JSON of
  Secrets Manager GetSecretValue,

provided the request carries ``X-Aws-Parameters-Secrets-Token: $AWS_SESSION_TOKEN``.
This class answers the same from the given (normally moto) clients. Unlike the real
extension it caches nothing unless ``cache_ttl_seconds`` is set.

Usage in a test::

    with ExtensionServer(ssm_client, secrets_client) as extension:
        monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(extension.port))
        monkeypatch.setenv("AWS_SESSION_TOKEN", extension.token)
        ...
"""

from __future__ import annotations

import datetime
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from botocore.exceptions import ClientError
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"  # noqa: S105 - a header name
PARAMETER_PATHS = ("/systemsmanager/parameters/get", "/systemsmanager/parameters/get/")
SECRET_PATHS = ("/secretsmanager/get", "/secretsmanager/get/")


class _QuietHandler(WSGIRequestHandler):
    """Request handler that does not log every request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _json_response(status: int, body: Any) -> Response:
    return Response(
        json.dumps(body, default=_json_default), status=status, mimetype="application/json"
    )


class ExtensionServer:
    """A threaded HTTP server on a free loopback port emulating the extension.

    ``start()`` binds and serves in a daemon thread; ``port`` and ``token`` are what the
    functions need as ``PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`` and ``AWS_SESSION_TOKEN``
    (see ``environment()``); ``stop()`` shuts it down. Also a context manager.
    """

    def __init__(
        self,
        ssm_client: Any,
        secrets_client: Any,
        *,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        cache_ttl_seconds: float = 0.0,
    ) -> None:
        self.ssm_client = ssm_client
        self.secrets_client = secrets_client
        self.token = token if token is not None else secrets.token_urlsafe(32)
        self.host = host
        self._requested_port = port
        self.cache_ttl_seconds = cache_ttl_seconds
        self._cache: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._cache_lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the extension server is not started")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def environment(self) -> dict[str, str]:
        """The environment variables a function needs to reach this server."""
        return {
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(self.port),
            "AWS_SESSION_TOKEN": self.token,
        }

    def start(self) -> ExtensionServer:
        if self._server is not None:
            return self
        self._server = make_server(
            self.host,
            self._requested_port,
            self.wsgi_app,
            threaded=True,
            request_handler=_QuietHandler,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="localapi-extension",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ExtensionServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- WSGI --------------------------------------------------------------------------

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        presented = request.headers.get(TOKEN_HEADER, "")
        if not presented or not hmac.compare_digest(presented.encode(), self.token.encode()):
            return Response("Unauthorized", status=401, mimetype="text/plain")
        if request.method != "GET":
            return Response("Method Not Allowed", status=405, mimetype="text/plain")
        args = request.args
        try:
            if request.path in PARAMETER_PATHS:
                name = args.get("name", "")
                if not name:
                    return _json_response(400, {"message": "name is required"})
                arguments: dict[str, Any] = {
                    "Name": name,
                    "WithDecryption": args.get("withDecryption", "false").lower() == "true",
                }
                if args.get("version"):
                    arguments["Name"] = f"{name}:{args['version']}"
                elif args.get("label"):
                    arguments["Name"] = f"{name}:{args['label']}"
                result = self._cached(
                    ("ssm", *sorted(map(str, arguments.items()))),
                    lambda: self.ssm_client.get_parameter(**arguments),
                )
            elif request.path in SECRET_PATHS:
                secret_id = args.get("secretId", "")
                if not secret_id:
                    return _json_response(400, {"message": "secretId is required"})
                arguments = {"SecretId": secret_id}
                if args.get("versionId"):
                    arguments["VersionId"] = args["versionId"]
                if args.get("versionStage"):
                    arguments["VersionStage"] = args["versionStage"]
                result = self._cached(
                    ("secret", *sorted(map(str, arguments.items()))),
                    lambda: self.secrets_client.get_secret_value(**arguments),
                )
            else:
                return _json_response(404, {"message": f"unknown path {request.path}"})
        except ClientError as exc:
            error = exc.response.get("Error", {})
            # AWS answers these (ResourceNotFoundException, ParameterNotFound...) with 400;
            # moto uses 404 for some, so the status is not copied.
            return _json_response(
                400,
                {"__type": error.get("Code", "Error"), "message": error.get("Message", str(exc))},
            )
        body = {key: value for key, value in result.items() if key != "ResponseMetadata"}
        body["ResultMetadata"] = {}
        return _json_response(200, body)

    def _cached(self, key: tuple[str, ...], fetch: Callable[[], Any]) -> Any:
        if self.cache_ttl_seconds <= 0:
            return fetch()
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        value = fetch()
        with self._cache_lock:
            self._cache[key] = (now + self.cache_ttl_seconds, value)
        return value
