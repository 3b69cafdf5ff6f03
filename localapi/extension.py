"""An emulation of the AWS Parameters and Secrets Lambda Extension's HTTP API.

The real extension listens on ``localhost:$PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`` and
answers, provided the request carries ``X-Aws-Parameters-Secrets-Token:
$AWS_SESSION_TOKEN``,

* ``GET /secretsmanager/get?secretId=<id>[&versionStage=]`` with the JSON of Secrets
  Manager GetSecretValue, and
* ``GET /systemsmanager/parameters/get?name=<name>`` with the JSON of SSM GetParameter.

This server answers the same from the given (normally moto) clients, caching nothing.
Usage in a test::

    with ExtensionServer(ssm_client, secrets_client) as extension:
        for name, value in extension.environment().items():
            monkeypatch.setenv(name, value)
"""

from __future__ import annotations

import datetime
import hmac
import json
import secrets
import threading
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"  # noqa: S105 - a header name


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        value = value.astimezone(datetime.UTC) if value.tzinfo else value
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _json_response(status: int, body: Any) -> Response:
    text = json.dumps(body, default=_json_default)
    return Response(text, status=status, mimetype="application/json")


class ExtensionServer:
    """A threaded HTTP server on a free loopback port emulating the extension.

    ``start()`` binds and serves in a daemon thread; ``environment()`` is what the
    functions need to reach it; ``stop()`` shuts it down. Also a context manager.
    """

    def __init__(self, ssm_client: Any, secrets_client: Any, *, token: str | None = None) -> None:
        self.ssm_client = ssm_client
        self.secrets_client = secrets_client
        self.token = token if token is not None else secrets.token_urlsafe(32)
        self._server: BaseWSGIServer | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the extension server is not started")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """The environment variables a function needs to reach this server."""
        return {
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(self.port),
            "AWS_SESSION_TOKEN": self.token,
        }

    def start(self) -> ExtensionServer:
        if self._server is None:
            self._server = make_server(
                "127.0.0.1", 0, self.wsgi_app, threaded=True, request_handler=_QuietHandler
            )
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="localapi-extension",
                daemon=True,
            ).start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> ExtensionServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self._dispatch(Request(environ))(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        presented = request.headers.get(TOKEN_HEADER, "")
        if not presented or not hmac.compare_digest(presented.encode(), self.token.encode()):
            return Response("Unauthorized", status=401, mimetype="text/plain")
        if request.method != "GET":
            return Response("Method Not Allowed", status=405, mimetype="text/plain")
        args, path = request.args, request.path.rstrip("/")
        try:
            if path == "/secretsmanager/get" and args.get("secretId"):
                arguments = {"SecretId": args["secretId"]}
                if args.get("versionStage"):
                    arguments["VersionStage"] = args["versionStage"]
                result = self.secrets_client.get_secret_value(**arguments)
            elif path == "/systemsmanager/parameters/get" and args.get("name"):
                result = self.ssm_client.get_parameter(Name=args["name"])
            else:
                return _json_response(400, {"message": f"unknown path or no name: {path}"})
        except ClientError as exc:
            error = exc.response.get("Error", {})
            # AWS answers these (ResourceNotFoundException, ParameterNotFound) with 400;
            # moto uses 404 for some, so the status is not copied.
            return _json_response(
                400,
                {"__type": error.get("Code", "Error"), "message": error.get("Message", str(exc))},
            )
        body = {key: value for key, value in result.items() if key != "ResponseMetadata"}
        return _json_response(200, {**body, "ResultMetadata": {}})
