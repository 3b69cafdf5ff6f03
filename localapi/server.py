"""Start-up of the local API: embedded AWS, extension emulator, handlers, HTTP server."""

from __future__ import annotations

import functools
import importlib
import json
import os
import secrets
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

from localapi import KeysBootstrapError, rotate_keys
from localapi.api_docs import collides as collides_with_api_docs
from localapi.api_docs import serve_api_docs
from localapi.aws import (
    FAKE_CREDENTIALS,
    create_email_identity,
    create_parameters_from_template,
    create_queues_from_template,
    create_secrets_from_template,
    create_tables_from_template,
    install_moto_lock,
)
from localapi.examples import load_example
from localapi.extension import ExtensionServer
from localapi.gateway import Gateway
from localapi.mailbox import Mailbox
from localapi.model import (
    AppSpec,
    FunctionSpec,
    build_app_spec,
    check_template,
    parameter_variables,
    parameters_from_environment,
)
from localapi.pages import PAGES
from localapi.queues import MIN_MESSAGE_AGE_SECONDS, QueuePoller
from localapi.runtime import ENVIRON_LOCK, FunctionLoadError, LoadedFunction
from localapi.template import (
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    Resolver,
    TemplateError,
    load_template,
)
from localapi.webapp import DEMO_PATH, demo_response, is_demo_path

SIGNING_KEYS_SECRET = "SigningKeysSecret"  # noqa: S105 - a logical id
PUBLIC_KEYS_SECRET = "PublicKeysSecret"  # noqa: S105 - a logical id

# The local API's own routes (development tools; not in the template, never deployed).
ADMIN_PREFIX = "/_localapi/"
ROTATE_KEYS_PATH = ADMIN_PREFIX + "rotate-keys"
MAIL_PATH = ADMIN_PREFIX + "mail"
MAIL_JOBS_PATH = ADMIN_PREFIX + "mail-jobs"
MAX_WAIT_SECONDS = 60.0
PAGE_PATHS = {ADMIN_PREFIX + name: page for name, page in PAGES.items()}

# What the functions get as EMAIL_FROM and APP_URL (and the EmailFrom and AppUrl
# parameters) when the environment leaves them empty: an address email-validator accepts
# (it refuses the special-use names: .localhost, .test, .local), and the demo app's pages
# (``<url>/demo/verify-email`` ...; the pages under LOCAL_PAGES_PATH keep working).
DEFAULT_EMAIL_FROM = "no-reply@localhost.localdomain"
LOCAL_PAGES_PATH = ADMIN_PREFIX.rstrip("/")
# The product's email normalisation (imported by name, as the rotation module is).
EMAILS_MODULE = "stateless_auth.domain.emails"

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


def foreign_host(environ: Mapping[str, Any], served_host: str = "127.0.0.1") -> str | None:
    """Why the request's Host is not this machine (a DNS-rebinding page), or None."""
    host = urlsplit(f"//{environ.get('HTTP_HOST') or ''}").hostname or ""
    if host not in LOOPBACK_NAMES | {served_host.lower()}:
        return f"Host {host[:100]!r} is not this machine"
    return None


def cross_site_refusal(environ: Mapping[str, Any], served_host: str = "127.0.0.1") -> str | None:
    """Why a call to ``/_localapi/*`` comes from another site, or None (CONTRACT §2, §3).

    Any web page the developer visits could otherwise rotate the keys or read the mailbox
    with a form post or a no-cors fetch; and a page on a name the attacker rebinds to
    127.0.0.1 sends its own name as Host (and Origin), so the Host must name this machine
    too. Calls with neither Origin nor Sec-Fetch-Site (curl, tests) pass.
    """
    refusal = foreign_host(environ, served_host)
    if refusal is not None:
        return refusal
    if str(environ.get("HTTP_SEC_FETCH_SITE") or "").strip().lower() == "cross-site":
        return "Sec-Fetch-Site: cross-site"
    origin = environ.get("HTTP_ORIGIN")
    if origin is None:
        return None
    own = f"{environ.get('wsgi.url_scheme') or 'http'}://{environ.get('HTTP_HOST') or ''}"
    if str(origin).strip().rstrip("/").lower() != own.lower():
        return f"Origin {str(origin)[:100]!r}"
    return None


def local_settings(environ: Mapping[str, str], url: str) -> dict[str, str]:
    """EMAIL_FROM and APP_URL as the local API gives them to the functions: the
    environment's, else ``DEFAULT_EMAIL_FROM`` and the demo app at ``<url>/demo``."""
    return {
        "EMAIL_FROM": environ.get("EMAIL_FROM", "").strip() or DEFAULT_EMAIL_FROM,
        "APP_URL": environ.get("APP_URL", "").strip().rstrip("/") or url + DEMO_PATH,
    }


def local_parameter_values(
    template: Mapping[str, Any], environ: Mapping[str, str], url: str
) -> dict[str, str]:
    """The template parameter values the local API serving at ``url`` resolves with: those
    the environment implies (``parameters_from_environment``) and the EmailFrom and AppUrl
    parameters (whatever the variables EMAIL_FROM and APP_URL refer to) from
    ``local_settings``, which have no Default in the template."""
    settings = {**environ, **local_settings(environ, url)}
    return parameters_from_environment(template, settings, ignore=MANAGED_VARIABLES)


def email_normaliser() -> Callable[[str], str]:
    """The product's ``normalise_email`` (as the service compares addresses), or, without
    the product, trimming and lower-casing."""
    try:
        module = importlib.import_module(EMAILS_MODULE)
    except ModuleNotFoundError:
        return lambda address: address.strip().lower()
    normalise: Callable[[str], str] = module.normalise_email
    return normalise


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

    ``GET /_localapi/mail[?to=<email>]`` answers ``{"messages": [...]}`` from the mailbox,
    oldest first, ``to`` compared after ``normalise`` (one that does not parse: 400);
    ``DELETE /_localapi/mail`` empties it (204). ``GET /_localapi/verify-email`` and
    ``GET /_localapi/reset-password`` serve the pages the mails' links open.
    ``GET /_localapi/mail-jobs[?wait=<seconds>]`` answers ``{"drained": true}`` once every
    polled queue is drained (``LocalApi.wait_for_mail_jobs``), or ``false`` after ``wait``
    seconds (0 by default, 60 at most): what a test over HTTP waits on.
    """

    def __init__(
        self,
        app: Callable[[dict[str, Any], Any], Iterable[bytes]],
        rotate: Callable[[], dict[str, str]] | None,
        log: Callable[[str], None],
        *,
        served_host: str = "127.0.0.1",
        mailbox: Mailbox | None = None,
        normalise: Callable[[str], str] | None = None,
        wait_for_mail_jobs: Callable[[float], bool] | None = None,
    ) -> None:
        self.wait_for_mail_jobs = wait_for_mail_jobs
        self.app = app
        self.rotate = rotate
        self.log = log
        self.served_host = served_host
        self.mailbox = mailbox
        self.normalise = normalise or email_normaliser()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO") or "")
        if is_demo_path(path):
            # The demo app (localapi/webapp.py): static pages a mail link opens from
            # another site, so only the Host is checked, as for the mail pages.
            refusal = foreign_host(environ, self.served_host)
            reply = demo_response(str(environ.get("REQUEST_METHOD")), path)
            if refusal is not None:
                reply = _json_reply(403, {"error": "cross_site_request", "message": refusal})
            return reply(environ, start_response)
        if not path.startswith(ADMIN_PREFIX):
            return self.app(environ, start_response)
        return self._admin(environ, path)(environ, start_response)

    def _admin(self, environ: dict[str, Any], path: str) -> Response:
        method = environ.get("REQUEST_METHOD")
        if path in PAGE_PATHS and method in ("GET", "HEAD"):
            # A link in a mail opens from the mail client's site: a cross-site navigation.
            # The pages are static and change nothing (their own POST is same-origin and
            # meets the API's cross-site rule), so only the Host is checked.
            refusal = foreign_host(environ, self.served_host)
        else:
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
        if path == MAIL_PATH:
            return self._mail(environ, method)
        if path == MAIL_JOBS_PATH:
            return self._mail_jobs(environ, method)
        if path in PAGE_PATHS:
            if method not in ("GET", "HEAD"):
                return _json_reply(405, {"message": "Method Not Allowed"}, {"Allow": "GET, HEAD"})
            page = PAGE_PATHS[path]
            return Response(page.body, status=200, headers=page.headers)
        if path != ROTATE_KEYS_PATH:
            return _json_reply(404, {"message": "Not Found"})
        if method != "POST":
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

    def _mail_jobs(self, environ: Mapping[str, Any], method: Any) -> Response:
        if method not in ("GET", "HEAD"):
            return _json_reply(405, {"message": "Method Not Allowed"}, {"Allow": "GET, HEAD"})
        query = parse_qs(str(environ.get("QUERY_STRING") or ""), keep_blank_values=True)
        try:
            wait = float(query.get("wait", ["0"])[-1])
        except ValueError:
            wait = -1.0
        if not 0 <= wait <= MAX_WAIT_SECONDS:
            return _json_reply(
                400,
                {
                    "error": "invalid_request",
                    "message": f"'wait' must be seconds from 0 to {MAX_WAIT_SECONDS:g}",
                },
            )
        drained = True if self.wait_for_mail_jobs is None else self.wait_for_mail_jobs(wait)
        return _json_reply(200, {"drained": drained}, {"Cache-Control": "no-store"})

    def _mail(self, environ: Mapping[str, Any], method: Any) -> Response:
        if self.mailbox is None:
            return _json_reply(404, {"message": "the local API has no mailbox here"})
        if method == "DELETE":
            self.mailbox.clear()
            return Response(status=204, headers={"Cache-Control": "no-store"})
        if method not in ("GET", "HEAD"):
            return _json_reply(405, {"message": "Method Not Allowed"}, {"Allow": "GET, DELETE"})
        query = parse_qs(str(environ.get("QUERY_STRING") or ""), keep_blank_values=True)
        to = query.get("to", [None])[-1]
        if to is not None:
            try:
                to = self.normalise(to)
            except Exception as exc:
                return _json_reply(
                    400,
                    {"error": "invalid_request", "message": f"'to' is not an email address: {exc}"},
                )
        messages = self.mailbox.messages(to, normalise=self.normalise)
        return _json_reply(200, {"messages": messages}, {"Cache-Control": "no-store"})


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
        min_message_age: float = MIN_MESSAGE_AGE_SECONDS,
        parameter_overrides: Mapping[str, str] | None = None,
        examples: Iterable[str | os.PathLike[str]] = (),
    ) -> None:
        # Template parameter values that win over the environment's (localapi invoke's
        # --parameter-overrides), and example stacks served beside it (localapi/examples.py).
        self.parameter_overrides = dict(parameter_overrides or {})
        self.example_paths = [Path(path) for path in examples]
        self.environments: dict[str, dict[str, str]] = {}
        self.min_message_age = min_message_age
        self._say_lock = threading.Lock()
        self._saved_default_session: tuple[Any] | None = None
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
        self.queues: dict[str, str] = {}
        self.pollers: list[QueuePoller] = []
        self.mailbox = Mailbox(on_mail=self._print_mail)
        self.email_from = ""
        self.app_url = ""

    def say(self, message: str) -> None:
        stream = self._log or sys.stderr
        with self._say_lock:  # the HTTP threads and the queue pollers say things
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
        # Bind first: the issuer and the links' APP_URL are fixed at start-up from the
        # address actually served (CONTRACT §2), before anything resolves the template.
        self._server = make_server(
            self.host,
            self.requested_port,
            _not_ready,
            threaded=True,
            request_handler=_RequestHandler,
        )
        settings = local_settings(self.process_environ, self.url)
        self.email_from, self.app_url = settings["EMAIL_FROM"], settings["APP_URL"]
        replaced = {
            "JWT_ISSUER": self.process_environ.get("JWT_ISSUER", "").strip() or self.url,
            "EMAIL_FROM": self.email_from,
            "APP_URL": self.app_url,
        }
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

        # The functions' clients come from boto3's default session (made anew inside the
        # mock); the mailbox listens on it before any function is imported.
        self._saved_default_session = (boto3.DEFAULT_SESSION,)
        boto3.setup_default_session(region_name=self.region)
        self.mailbox.listen(boto3.DEFAULT_SESSION)
        session = boto3.session.Session(region_name=self.region)
        secretsmanager = session.client("secretsmanager")
        ssm = session.client("ssm")
        sqs = session.client("sqs")
        resolver = Resolver(
            template,
            stack_name=self.stack_name,
            region=self.region,
            parameter_values={
                **local_parameter_values(template, self.process_environ, self.url),
                **self.parameter_overrides,
            },
        )
        missing = resolver.missing_parameters()
        if missing:
            hints = parameter_variables(template)
            raise TemplateError(
                "; ".join(
                    f"parameter {name} has no Default and no value was given"
                    + (f" (set {' or '.join(hints[name])})" if hints.get(name) else "")
                    for name in missing
                )
            )
        tables = create_tables_from_template(
            template, session.client("dynamodb"), resolver=resolver
        )
        created_secrets = create_secrets_from_template(template, secretsmanager, resolver=resolver)
        parameters = create_parameters_from_template(template, ssm, resolver=resolver)
        self.queues = create_queues_from_template(template, sqs, resolver=resolver)
        self.physical_names = {**tables, **created_secrets, **parameters, **self.queues}
        create_email_identity(session.client("sesv2"), self.email_from)
        self.extension = ExtensionServer(ssm, secretsmanager, token=session_token).start()
        replaced["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"] = self.extension.environment()[
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"
        ]

        self.app = app = build_app_spec(template, base_dir, resolver)
        for route in app.routes:
            if route.path.startswith(ADMIN_PREFIX):
                raise TemplateError(
                    f"route {route.route_key} ({route.function_id}) is under {ADMIN_PREFIX},"
                    " which the local API keeps for its own routes"
                )
            if collides_with_api_docs(route.path):  # /openapi.json, /docs: localapi/api_docs.py
                raise TemplateError(
                    f"route {route.route_key} ({route.function_id}) collides with the local"
                    " API's own /openapi.json and /docs"
                )
            if is_demo_path(route.path.split("{", 1)[0].rstrip("/") or route.path):
                raise TemplateError(
                    f"route {route.route_key} ({route.function_id}) collides with the local"
                    " API's own /demo"
                )

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
            self.environments[function_id] = environment
        self.resolver = resolver  # the stack's physical names (localapi invoke)
        self.function_environment = functools.partial(
            function_environment,
            declared=app.declared_variables,
            caller=self.process_environ,
            managed=managed,
            replaced=replaced,
        )
        routes = list(app.routes)
        for example_path in self.example_paths:  # after the main stack's functions
            routes += load_example(self, example_path, template, resolver, managed)

        gateway = Gateway(routes, self.functions, cors=app.cors, region=self.region, log=self._log)
        self._server.app = LocalAdmin(
            gateway,
            self._rotate,
            self.say,
            served_host=self.host,
            mailbox=self.mailbox,
            wait_for_mail_jobs=self.wait_for_mail_jobs,
        )
        self._server.app = serve_api_docs(  # GET /openapi.json and /docs (docs/api.md)
            self._server.app, base_dir, self.url, refuse_host=lambda e: foreign_host(e, self.host)
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="localapi-http",
            daemon=True,
        )
        self._thread.start()
        for mapping in app.mappings:
            if mapping.enabled:
                queue = resolver.physical[mapping.queue_id]
                poller = QueuePoller(
                    mapping,
                    self.functions[mapping.function_id],
                    sqs,
                    queue_url=str(queue["QueueUrl"]),
                    queue_arn=str(queue["Arn"]),
                    region=self.region,
                    log=self.say,
                    min_age=self.min_message_age,
                )
                self.pollers.append(poller.start())
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
        for mapping in self.app.mappings:
            options = [f"batch size {mapping.batch_size}"]
            options += ["ReportBatchItemFailures"] if mapping.report_batch_item_failures else []
            options += [] if mapping.enabled else ["disabled: not polled"]
            self.say(
                f"queue {mapping.queue_id} -> {mapping.function_id} "
                f"({mapping.logical_id}; {', '.join(options)})"
            )
        if self.queues or "EMAIL_FROM" in self.app.declared_variables:
            self.say(
                f"mail from {self.email_from}; links to {self.app_url}; "
                f"GET {MAIL_PATH} lists the mails sent"
            )
        # Browser apps served from localhost (a dev server on localhost:5173) must call
        # the API as localhost too: 127.0.0.1 is another site, so the API refuses its
        # state-changing calls and the SameSite=Strict cookie fails (docs/browser-apps.md).
        self.say(f"demo app: {self.url}{DEMO_PATH}")
        self.say(
            f"browser apps on localhost: call http://localhost:{self.port} "
            "(same site as your localhost dev server)"
        )

    def _print_mail(self, message: Mapping[str, Any]) -> None:
        """Each mail on the console, in full (a development convenience, CONTRACT §2)."""
        text = "\n".join(f"    {line}" for line in str(message["text"]).splitlines())
        self.say(f"mail {message['id']} to {message['to']}: {message['subject']!r}\n{text}")

    def wait_for_mail_jobs(self, timeout: float = 10.0) -> bool:
        """Wait until every polled queue is drained: no message visible and none being
        handled. Messages due later (delayed, or back after their visibility timeout once
        a handler failed) are not waited for. False if ``timeout`` seconds passed first."""
        deadline = time.monotonic() + timeout
        while True:
            if all(poller.drained() for poller in self.pollers):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    # -- running and stopping ---------------------------------------------------------

    @property
    def serving(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Stop serving, stop the embedded AWS, and give the process its environment back."""
        for poller in self.pollers:
            poller.stop()
        self.pollers = []
        self.mailbox.stop_listening()
        if self._saved_default_session is not None:
            import boto3

            (boto3.DEFAULT_SESSION,) = self._saved_default_session
            self._saved_default_session = None
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
