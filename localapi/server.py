"""Start-up of the local API: embedded AWS, extension emulator, handlers, HTTP server."""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

from localapi import KeysBootstrapError, rotate_keys
from localapi.aws import (
    FAKE_CREDENTIALS,
    create_parameters_from_template,
    create_secrets_from_template,
    create_tables_from_template,
    install_moto_lock,
)
from localapi.extension import ExtensionServer
from localapi.gateway import Gateway
from localapi.model import (
    AppSpec,
    FunctionSpec,
    build_app_spec,
    check_template,
    parameters_from_environment,
)
from localapi.runtime import ENVIRON_LOCK, FunctionLoadError, LoadedFunction
from localapi.template import (
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    Resolver,
    TemplateError,
    load_template,
)

SIGNING_KEYS_SECRET = "SigningKeysSecret"  # noqa: S105 - a logical id
PUBLIC_KEYS_SECRET = "PublicKeysSecret"  # noqa: S105 - a logical id

# The local API's own routes (development tools; not in the template, never deployed).
ADMIN_PREFIX = "/_localapi/"
ROTATE_KEYS_PATH = ADMIN_PREFIX + "rotate-keys"

# Set by the local API whatever the template or the caller's environment say.
MANAGED_VARIABLES = frozenset(
    {
        *FAKE_CREDENTIALS,
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
    }
)

STARTUP_ERRORS = (TemplateError, FunctionLoadError, KeysBootstrapError)


class StartupError(Exception):
    """The local API cannot start; the message says why."""


class _RequestHandler(WSGIRequestHandler):
    """One short access-log line per request on stderr; no Server header (as AWS)."""

    server_version = "localapi"
    sys_version = ""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        sys.stderr.write(f'[localapi] "{self.requestline}" {code}\n')

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"[localapi] {format % args}\n")


def region_from(environ: Mapping[str, str]) -> str:
    return environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def function_environment(
    spec: FunctionSpec,
    declared: frozenset[str],
    caller: Mapping[str, str],
    managed: Mapping[str, str],
    replaced: Mapping[str, str],
) -> dict[str, str]:
    """Exactly what a function's module sees while it is imported, as in Lambda.

    Its own template variables, where the caller's environment wins for a name the
    function declares (``ACCESS_TOKEN_TTL_SECONDS=60 make run``) and the local API's
    value wins in ``replaced`` (the extension emulator's port, the issuer fixed at
    start-up); then what the Lambda runtime sets (``managed``: credentials, region). Of
    the rest of the caller's environment, what the template does not declare passes
    through (PATH, or ``KEYS_REFRESH_SECONDS``, which the template leaves at its
    default); a variable the template gives other functions only (the authorizer and
    ``SIGNING_KEYS_SECRET_ID``) and the caller's own AWS settings never do.
    """
    passed = {
        name: value
        for name, value in caller.items()
        if name not in declared and not name.startswith("AWS_")
    }
    own = {
        name: replaced.get(name, caller.get(name, value))
        for name, value in spec.environment.items()
    }
    return {**passed, **own, **managed}


def _json_reply(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def cross_site_refusal(environ: Mapping[str, Any], served_host: str = "127.0.0.1") -> str | None:
    """Why a call to ``/_localapi/*`` comes from another site, or None (CONTRACT §2, §3).

    Any web page the developer visits could otherwise rotate the keys or read the mailbox
    with a form post or a no-cors fetch; and a page on a name the attacker rebinds to
    127.0.0.1 sends its own name as Host (and Origin), so the Host must name this machine
    too. Calls with neither Origin nor Sec-Fetch-Site (curl, tests) pass.
    """
    host = urlsplit(f"//{environ.get('HTTP_HOST') or ''}").hostname or ""
    if host not in LOOPBACK_NAMES | {served_host.lower()}:
        return f"Host {host[:100]!r} is not this machine"
    if str(environ.get("HTTP_SEC_FETCH_SITE") or "").strip().lower() == "cross-site":
        return "Sec-Fetch-Site: cross-site"
    origin = environ.get("HTTP_ORIGIN")
    if origin is None:
        return None
    own = f"{environ.get('wsgi.url_scheme') or 'http'}://{environ.get('HTTP_HOST') or ''}"
    if str(origin).strip().rstrip("/").lower() != own.lower():
        return f"Origin {str(origin)[:100]!r}"
    return None


def _not_ready(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """What the socket answers between binding and the functions being loaded."""
    return _json_reply(503, {"message": "Service Unavailable"}, {"Retry-After": "1"})(
        environ, start_response
    )


class LocalAdmin:
    """WSGI middleware: the local API's own routes under ``/_localapi/``, else the gateway.

    ``POST /_localapi/rotate-keys`` runs one signing-key rotation in process (the same
    four Secrets Manager rotation steps as the key-rotation function in AWS) and answers
    ``200 {"rotated": true, "kids": {"previous", "current", "next"}}``. The functions pick
    the new set up as they do in AWS: within ``KEYS_REFRESH_SECONDS``.
    """

    def __init__(
        self,
        app: Callable[[dict[str, Any], Any], Iterable[bytes]],
        rotate: Callable[[], dict[str, str]] | None,
        log: Callable[[str], None],
        *,
        served_host: str = "127.0.0.1",
    ) -> None:
        self.app = app
        self.rotate = rotate
        self.log = log
        self.served_host = served_host
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO") or "")
        if not path.startswith(ADMIN_PREFIX):
            return self.app(environ, start_response)
        return self._admin(environ, path)(environ, start_response)

    def _admin(self, environ: dict[str, Any], path: str) -> Response:
        refusal = cross_site_refusal(environ, self.served_host)
        if refusal is not None:
            self.log(f"refused a cross-site call to {path}: {refusal}")
            return _json_reply(
                403,
                {
                    "error": "cross_site_request",
                    "message": f"the local API's own routes refuse cross-site calls ({refusal})",
                },
            )
        if path != ROTATE_KEYS_PATH:
            return _json_reply(404, {"message": "Not Found"})
        if environ.get("REQUEST_METHOD") != "POST":
            return _json_reply(405, {"message": "Method Not Allowed"}, {"Allow": "POST"})
        if self.rotate is None:
            return _json_reply(
                404, {"message": f"the template declares no {SIGNING_KEYS_SECRET} to rotate"}
            )
        try:
            with self._lock:  # one rotation at a time, as Secrets Manager allows
                kids = self.rotate()
        except Exception as exc:
            self.log(f"key rotation failed: {type(exc).__name__}: {exc}")
            self.log(traceback.format_exc().rstrip())
            return _json_reply(500, {"message": "Internal Server Error"})
        self.log(f"rotated the signing keys: current kid {kids.get('current')}")
        return _json_reply(200, {"rotated": True, "kids": kids})


class LocalApi:
    """The whole local API in this process. ``start()`` then ``url``; ``close()`` to stop."""

    def __init__(
        self,
        template_path: str | os.PathLike[str] = "template.yaml",
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        process_environ: Mapping[str, str] | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        log: TextIO | None = None,
    ) -> None:
        self.template_path = Path(template_path)
        self.host = host
        self.requested_port = port
        self.process_environ = dict(os.environ if process_environ is None else process_environ)
        self.region = region_from(self.process_environ)
        self.stack_name = stack_name
        self._log = log
        self.app: AppSpec | None = None
        self.functions: dict[str, LoadedFunction] = {}
        self.physical_names: dict[str, str] = {}
        self._saved_environ: dict[str, str] | None = None
        self._mock: Any = None
        self.extension: ExtensionServer | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._rotate: Callable[[], dict[str, str]] | None = None
        self.signing_kids: dict[str, str] = {}

    def say(self, message: str) -> None:
        stream = self._log or sys.stderr
        stream.write(f"[localapi] {message}\n")
        stream.flush()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the local API is not started")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- start-up ----------------------------------------------------------------------

    def start(self) -> LocalApi:
        """Everything up to a listening socket; raises StartupError with a clear message."""
        try:
            self._start()
        except STARTUP_ERRORS as exc:
            self.close()
            raise StartupError(str(exc)) from exc
        except (BotoCoreError, ClientError) as exc:
            self.close()
            raise StartupError(f"the embedded AWS refused the template's resources: {exc}") from exc
        except BaseException:
            self.close()
            raise
        return self

    def _set_aws_environment(self, managed: Mapping[str, str]) -> None:
        """The process's own AWS settings: only the local API's (no profile, no real keys)."""
        with ENVIRON_LOCK:
            for name in [name for name in os.environ if name.startswith("AWS_")]:
                del os.environ[name]
            os.environ.update(managed)

    def _start(self) -> None:
        template = load_template(self.template_path)
        check_template(template)  # before anything is created
        base_dir = self.template_path.resolve().parent
        session_token = secrets.token_urlsafe(32)
        managed = {
            **FAKE_CREDENTIALS,
            "AWS_SESSION_TOKEN": session_token,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            # Keep the developer's AWS configuration and any real credentials out of reach.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        self._saved_environ = dict(os.environ)
        self._set_aws_environment(managed)

        import boto3
        from moto import mock_aws

        install_moto_lock()
        self._mock = mock_aws()
        self._mock.start()
        self._set_aws_environment(managed)  # mock_aws sets its own fake keys; ours win

        session = boto3.session.Session(region_name=self.region)
        secretsmanager = session.client("secretsmanager")
        ssm = session.client("ssm")
        resolver = Resolver(
            template,
            stack_name=self.stack_name,
            region=self.region,
            parameter_values=parameters_from_environment(
                template, self.process_environ, ignore=MANAGED_VARIABLES
            ),
        )
        tables = create_tables_from_template(
            template, session.client("dynamodb"), resolver=resolver
        )
        created_secrets = create_secrets_from_template(template, secretsmanager, resolver=resolver)
        parameters = create_parameters_from_template(template, ssm, resolver=resolver)
        self.physical_names = {**tables, **created_secrets, **parameters}
        self.extension = ExtensionServer(ssm, secretsmanager, token=session_token).start()
        port = self.extension.environment()["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"]

        self.app = app = build_app_spec(template, base_dir, resolver)
        for route in app.routes:
            if route.path.startswith(ADMIN_PREFIX):
                raise TemplateError(
                    f"route {route.route_key} ({route.function_id}) is under {ADMIN_PREFIX},"
                    " which the local API keeps for its own routes"
                )
        # Bind first: the issuer is fixed at start-up from the address actually served
        # (CONTRACT §2), before any function reads its settings.
        self._server = make_server(
            self.host,
            self.requested_port,
            _not_ready,
            threaded=True,
            request_handler=_RequestHandler,
        )
        replaced = {
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": port,
            "JWT_ISSUER": self.process_environ.get("JWT_ISSUER", "").strip() or self.url,
        }

        if SIGNING_KEYS_SECRET in created_secrets:
            public_secret = created_secrets.get(PUBLIC_KEYS_SECRET)
            if public_secret is None:
                raise TemplateError(
                    f"{SIGNING_KEYS_SECRET} is declared but there is no {PUBLIC_KEYS_SECRET}"
                    " (AWS::SecretsManager::Secret) for the public keys"
                )
            secret_arn = created_secrets[SIGNING_KEYS_SECRET]

            # rotate_keys forces: the local API rotates back to back (a development tool).
            def rotate(public_id: str = public_secret) -> dict[str, str]:
                self.signing_kids = rotate_keys(secretsmanager, secret_arn, public_id)
                return self.signing_kids

            rotate()  # the first rotation creates the development keys, as in AWS
            self._rotate = rotate

        for function_id, spec in app.functions.items():
            environment = function_environment(
                spec, app.declared_variables, self.process_environ, managed, replaced
            )
            function = LoadedFunction(spec, region=self.region)
            function.load(environment)
            self.functions[function_id] = function

        gateway = Gateway(
            app.routes, self.functions, cors=app.cors, region=self.region, log=self._log
        )
        self._server.app = LocalAdmin(gateway, self._rotate, self.say, served_host=self.host)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="localapi-http",
            daemon=True,
        )
        self._thread.start()
        self._describe()

    def _describe(self) -> None:
        assert self.app is not None
        for logical_id, name in self.physical_names.items():
            self.say(f"created {logical_id}: {name}")
        if self._rotate is not None:
            self.say(
                f"signing keys: current kid {self.signing_kids.get('current')}; "
                f"POST {ROTATE_KEYS_PATH} rotates them"
            )
        for route in sorted(self.app.routes, key=lambda r: (r.path, r.method)):
            auth = f"authorizer {route.authorizer.name}" if route.authorizer else "no auth"
            self.say(f"route {route.route_key} -> {route.function_id} ({auth})")

    # -- running and stopping ---------------------------------------------------------

    @property
    def serving(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Stop serving, stop the embedded AWS, and give the process its environment back."""
        server, self._server = self._server, None
        if server is not None:
            if self._thread is not None:  # shutdown() waits forever on a server never served
                server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.extension is not None:
            self.extension.stop()
            self.extension = None
        if self._mock is not None:
            try:
                self._mock.stop()
            finally:
                self._mock = None
        if self._saved_environ is not None:
            with ENVIRON_LOCK:
                os.environ.clear()
                os.environ.update(self._saved_environ)
            self._saved_environ = None
