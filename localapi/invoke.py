"""``sam local invoke`` without Docker: ``python -m localapi invoke FUNCTION -e EVENT``.

::

    python -m localapi invoke LoginFunction -e events/login_ok.json \\
        [--env-vars env.json] [--parameter-overrides K=V ...] [--template template.yaml]

Each call starts a fresh embedded stack, as ``python -m localapi`` does (moto with the
template's tables, secrets, queues and SES identity, the first signing keys made by a
rotation, the extension stand-in, every function loaded with its template environment),
runs FUNCTION in this process with ``EVENT``, prints its return value as JSON on stdout
and everything else (the functions' logs, the stack's own lines) on stderr, and exits 0.
A handler that raises prints Lambda's error shape (``errorMessage``, ``errorType``,
``stackTrace``) on stdout and exits 1; an unknown function, a missing event file or one
that is not JSON, a bad ``--env-vars`` or override exit 2 with the reason.

The events of ``events/`` are written for a deployed stack and carry placeholders
(``REPLACE_WITH_ACCESS_TOKEN``, ``..._REFRESH_TOKEN``, ``..._SESSION_ID``,
``..._LINK_TOKEN``, and the second factor's ``..._TOTP_CODE``, ``..._MFA_TOKEN``,
``..._RECOVERY_CODE``, ``..._MFA_ENROLLMENT_TOKEN``) and a made-up authorizer context. So that they answer as their names
say, the fresh stack is prepared first, through its own HTTP API (the same calls a client
makes): the events' account (``EVENTS_EMAIL`` with ``EVENTS_PASSWORD``) is signed up and
verified from the mail the stack sends, then logged in; the placeholders get that login's
tokens (a second login's session for ``REPLACE_WITH_SESSION_ID``: another session to end),
and an event with ``requestContext.authorizer`` gets the context the route's authorizer
answers for the token (as API Gateway passes it). ``POST /auth/verify-email`` gets the link
of an account signed up and not yet verified, ``POST /auth/password/reset`` the link of a
``forgot`` call. The account is made for every event with a placeholder or an authorizer
context, an authorizer request (``"type": "REQUEST"``), and the login, resend and forgot
routes (``login_unknown_email.json`` names another address and stays unknown). Other events
(signup, the JWKS, the mailer's SQS batch, the rotation steps) run on the empty stack.

The second factor's events get an account in the state their route needs, through the same
routes, with TOTP codes computed here from the enrolment's secret (RFC 6238):
``POST /auth/mfa/totp/confirm`` an enrolment pending (and the code of the current time
step); ``POST /auth/mfa/verify`` MFA on and a login's ``mfa_token``, with a code of the next
time step (the confirming one is used up) or one of the recovery codes;
``POST /auth/mfa/recovery-codes`` and ``DELETE /auth/mfa`` MFA on and a session opened with
a recovery code (so the next step's code is still unused). ``..._MFA_ENROLLMENT_TOKEN``
(``authorizer_mfa_enrollment.json``) is the ``mfa_token`` of a login that must enrol, which
only ``Mfa=required`` gives: the stack runs with that override unless ``Mfa`` is given.

Like SAM: ``--env-vars`` is ``{"FunctionName": {"VAR": "value"}, "Parameters": {...}}``
(``Parameters`` for every function, the function's own entry winning) and sets only
variables the template declares for the function; ``--parameter-overrides`` takes
``Key=Value`` pairs (or SAM's ``ParameterKey=K,ParameterValue=V``) for the template's
parameters. The caller's environment does not reach the function's template variables.
The issuer is ``JWT_ISSUER`` of the overrides, else ``DEFAULT_ISSUER`` (the address of
``make run``), so tokens look like the local API's.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import sys
import time
import traceback
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import pyotp

from localapi.model import FUNCTION, _function_spec, check_template, parameter_variables
from localapi.runtime import FunctionLoadError, LoadedFunction
from localapi.server import LocalApi, StartupError, email_normaliser
from localapi.template import TemplateError, load_template

EVENTS_EMAIL = "ann@example.com"
EVENTS_PASSWORD = "correct horse battery staple"  # noqa: S105 - the events' own account
DEFAULT_ISSUER = "http://127.0.0.1:3000"
PLACEHOLDER = "REPLACE_WITH_"
REFRESH_COOKIE = "__Host-refresh_token"
ACCOUNT_ROUTES = frozenset(
    {"POST /auth/login", "POST /auth/verify-email/resend", "POST /auth/password/forgot"}
)
VERIFY_ROUTE = "POST /auth/verify-email"
RESET_ROUTE = "POST /auth/password/reset"
MAIL_TIMEOUT_SECONDS = 20.0
# The second factor (module docstring).
ENROLL_PATH = "/auth/mfa/totp/enroll"
CONFIRM_PATH = "/auth/mfa/totp/confirm"
MFA_VERIFY_PATH = "/auth/mfa/verify"
CONFIRM_ROUTE = "POST " + CONFIRM_PATH
MFA_VERIFY_ROUTE = "POST " + MFA_VERIFY_PATH
MFA_ON_ROUTES = frozenset({MFA_VERIFY_ROUTE, "POST /auth/mfa/recovery-codes", "DELETE /auth/mfa"})
TOTP_CODE = PLACEHOLDER + "TOTP_CODE"
MFA_TOKEN = PLACEHOLDER + "MFA_TOKEN"
RECOVERY_CODE = PLACEHOLDER + "RECOVERY_CODE"
MFA_ENROLLMENT_TOKEN = PLACEHOLDER + "MFA_ENROLLMENT_TOKEN"
MFA_PARAMETER = "Mfa"
TOTP_PERIOD_SECONDS = 30
TOTP_DIGITS = 6


class InvokeError(Exception):
    """What the command refuses before running anything (exit 2)."""


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m localapi invoke",
        description=(
            "Invoke one function of the template in this process, in a fresh embedded "
            "stack (sam local invoke without Docker): its return value as JSON on stdout, "
            "its logs on stderr."
        ),
    )
    parser.add_argument("function", metavar="FUNCTION", help="logical id, e.g. LoginFunction")
    parser.add_argument(
        "-e", "--event", help="event file (JSON); '-' reads stdin; none: the event {}"
    )
    parser.add_argument(
        "-n", "--env-vars", help='JSON file: {"Function": {"VAR": "v"}, "Parameters": {...}}'
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="template parameter values (Key=Value, or ParameterKey=K,ParameterValue=V)",
    )
    parser.add_argument("-t", "--template", default="template.yaml", help="SAM template")
    return parser.parse_args(list(argv))


def read_event(path: str | None) -> Any:
    if path is None:
        return {}
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvokeError(f"cannot read the event file {path!r}: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvokeError(f"the event file {path!r} is not JSON: {exc}") from exc


def read_env_vars(path: str | None, function_id: str) -> dict[str, str]:
    """The variables ``--env-vars`` gives ``function_id`` (its entry over ``Parameters``)."""
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvokeError(f"cannot read --env-vars {path!r}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise InvokeError(f"--env-vars {path!r} is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise InvokeError(
            f'--env-vars {path!r} must be {{"FunctionName": {{"VAR": "value"}}, '
            '"Parameters": {"VAR": "value"}}'
        )
    merged = {**data.get("Parameters", {}), **data.get(function_id, {})}
    return {str(name): _scalar(value) for name, value in merged.items()}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def parse_overrides(pairs: Sequence[str], template: Mapping[str, Any]) -> dict[str, str]:
    parameters = template.get("Parameters") or {}
    values: dict[str, str] = {}
    for pair in pairs:
        if pair.startswith("ParameterKey="):
            fields = dict(part.split("=", 1) for part in pair.split(",") if "=" in part)
            key, value = fields.get("ParameterKey", ""), fields.get("ParameterValue")
        else:
            key, sep, value_text = pair.partition("=")
            value = value_text if sep else None
        if not key or value is None:
            raise InvokeError(f"--parameter-overrides: {pair!r} is not Key=Value")
        if key not in parameters:
            raise InvokeError(
                f"--parameter-overrides: the template has no parameter {key!r} "
                f"(it has {', '.join(sorted(parameters))})"
            )
        values[key] = value
    return values


def _functions(template: Mapping[str, Any]) -> list[str]:
    resources: Mapping[str, Any] = template["Resources"]
    return sorted(k for k, r in resources.items() if (r or {}).get("Type") == FUNCTION)


# -- preparing the stack for the events --------------------------------------------------


class _Stack:
    """The fresh stack's HTTP API and mailbox, for the preparation calls."""

    def __init__(self, api: LocalApi, say: TextIO) -> None:
        self.api = api
        self.say = say
        self.normalise = email_normaliser()

    def call(
        self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, Any], list[str]]:
        parsed = urllib.parse.urlsplit(self.api.url)
        connection = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=30)
        try:
            sent = {"Content-Type": "application/json", **(headers or {})}
            data = None if body is None else json.dumps(body).encode()
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            raw = response.read()
            cookies = response.headers.get_all("Set-Cookie") or []
        finally:
            connection.close()
        answer = json.loads(raw) if raw else {}
        self.say.write(f"[localapi invoke] prepared: {method} {path} -> {response.status}\n")
        if response.status >= 300:
            raise InvokeError(f"preparing the stack: {method} {path} answered {response.status}")
        return response.status, answer if isinstance(answer, dict) else {}, cookies

    def link_token(self, email: str, count: int) -> str:
        """The one-time token of the ``count``-th mail to ``email``, once it is sent."""
        deadline = time.monotonic() + MAIL_TIMEOUT_SECONDS
        while True:
            found = self.api.mailbox.messages(email, normalise=self.normalise)
            if len(found) >= count and found[count - 1].get("tokens"):
                return str(found[count - 1]["tokens"][0])
            if time.monotonic() > deadline:
                raise InvokeError(f"preparing the stack: no mail {count} to {email}")
            time.sleep(0.02)

    def log_in(self, body_delivery: bool = False, *, recovery_code: str = "") -> tuple[str, str]:
        """(access token, refresh token) of a login; with MFA on, its second step with
        ``recovery_code``."""
        body = {"email": EVENTS_EMAIL, "password": EVENTS_PASSWORD}
        if body_delivery:
            body["refresh_token_delivery"] = "body"  # noqa: S105 - a delivery mode
        _, answer, cookies = self.call("POST", "/auth/login", body)
        if answer.get("mfa_required") and recovery_code:
            _, answer, cookies = self.call(
                "POST",
                MFA_VERIFY_PATH,
                {"mfa_token": answer["mfa_token"], "recovery_code": recovery_code},
            )
        if "access_token" not in answer:
            raise InvokeError(f"preparing the stack: the login answered no tokens: {answer!r}")
        refresh = str(answer.get("refresh_token") or "")
        for cookie in cookies:
            name, _, rest = cookie.partition("=")
            if name == REFRESH_COOKIE:
                refresh = rest.split(";")[0]
        return str(answer["access_token"]), refresh

    def mfa_token(self, kind: str) -> str:
        """The mfa_token of a login whose answer says ``kind`` (``mfa_required``, or
        ``mfa_enrollment_required``)."""
        _, answer, _ = self.call(
            "POST", "/auth/login", {"email": EVENTS_EMAIL, "password": EVENTS_PASSWORD}
        )
        if not answer.get(kind):
            hint = f" (it needs {MFA_PARAMETER}=required)" if kind != "mfa_required" else ""
            raise InvokeError(f"preparing the stack: the login answered no {kind}{hint}")
        return str(answer["mfa_token"])

    def enroll(self, access_token: str) -> str:
        """Start a TOTP enrolment with ``access_token``: its secret (base32)."""
        _, answer, _ = self.call(
            "POST",
            ENROLL_PATH,
            {"password": EVENTS_PASSWORD},
            headers={"Authorization": f"Bearer {access_token}"},
        )
        return str(answer["secret"])

    def turn_mfa_on(self) -> tuple[str, int, list[str]]:
        """Enrol and confirm: (the secret, the time step the confirming code used, the
        recovery codes)."""
        access, _ = self.log_in()
        secret = self.enroll(access)
        step = int(time.time()) // TOTP_PERIOD_SECONDS
        _, answer, _ = self.call(
            "POST",
            CONFIRM_PATH,
            {"code": totp(secret, step)},
            headers={"Authorization": f"Bearer {access}"},
        )
        return secret, step, [str(code) for code in answer["recovery_codes"]]


def totp(secret: str, step: int) -> str:
    """The code an authenticator app shows for a base32 secret at a 30-second step
    (pyotp: RFC 6238, HMAC-SHA-1, 6 digits)."""
    return str(pyotp.TOTP(secret, digits=TOTP_DIGITS).generate_otp(step))


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _replace(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for placeholder, real in values.items():
            value = value.replace(placeholder, real)
        return value
    if isinstance(value, list):
        return [_replace(item, values) for item in value]
    if isinstance(value, dict):
        return {key: _replace(item, values) for key, item in value.items()}
    return value


def needs_account(event: Any) -> bool:
    if not isinstance(event, dict):
        return False
    context = event.get("requestContext") or {}
    return (
        PLACEHOLDER in json.dumps(event)
        or "authorizer" in context
        or event.get("type") == "REQUEST"
        or event.get("routeKey") in ACCOUNT_ROUTES
    )


def prepare(api: LocalApi, event: Any, say: TextIO) -> Any:
    """The event with its placeholders and authorizer context made real (module docstring)."""
    if not needs_account(event):
        return event
    stack = _Stack(api, say)
    route = event.get("routeKey")
    text = json.dumps(event)
    stack.call("POST", "/auth/signup", {"email": EVENTS_EMAIL, "password": EVENTS_PASSWORD})
    verification = stack.link_token(EVENTS_EMAIL, 1)
    if route == VERIFY_ROUTE:
        return _replace(event, {"REPLACE_WITH_LINK_TOKEN": verification})
    stack.call("POST", "/auth/verify-email", {"token": verification})
    values: dict[str, str] = {}
    if route == RESET_ROUTE:
        sent = len(api.mailbox.messages(EVENTS_EMAIL, normalise=stack.normalise))
        stack.call("POST", "/auth/password/forgot", {"email": EVENTS_EMAIL})
        values["REPLACE_WITH_LINK_TOKEN"] = stack.link_token(EVENTS_EMAIL, sent + 1)
    if MFA_ENROLLMENT_TOKEN in text:  # Mfa=required: the login's enrolment token
        values[MFA_ENROLLMENT_TOKEN] = stack.mfa_token("mfa_enrollment_required")
        return _replace(event, values)
    recovery_code = ""
    if route in MFA_ON_ROUTES or MFA_TOKEN in text or RECOVERY_CODE in text:
        secret, step, codes = stack.turn_mfa_on()
        values[TOTP_CODE] = totp(secret, step + 1)  # the confirming step is used up
        values[RECOVERY_CODE] = codes[0]
        recovery_code = codes[-1]  # the preparation's own logins use another one
        if MFA_TOKEN in text:
            values[MFA_TOKEN] = stack.mfa_token("mfa_required")
    elif route == CONFIRM_ROUTE or TOTP_CODE in text:  # an enrolment pending
        access, refresh = stack.log_in()
        values[TOTP_CODE] = totp(stack.enroll(access), int(time.time()) // TOTP_PERIOD_SECONDS)
        values["REPLACE_WITH_ACCESS_TOKEN"] = access
        values["REPLACE_WITH_REFRESH_TOKEN"] = refresh
    if "REPLACE_WITH_SESSION_ID" in text:  # another session of the account, to end
        other, _ = stack.log_in(recovery_code=recovery_code)
        values["REPLACE_WITH_SESSION_ID"] = str(_claims(other)["sid"])
    needs_token = PLACEHOLDER + "ACCESS_TOKEN" in text or PLACEHOLDER + "REFRESH_TOKEN" in text
    context = event.get("requestContext") or {}
    if "REPLACE_WITH_ACCESS_TOKEN" not in values and (
        needs_token or "authorizer" in context or event.get("type") == "REQUEST"
    ):
        body_delivery = '\\"refresh_token\\": \\"REPLACE_WITH_REFRESH_TOKEN' in text
        access, refresh = stack.log_in(body_delivery=body_delivery, recovery_code=recovery_code)
        values["REPLACE_WITH_ACCESS_TOKEN"] = access
        values["REPLACE_WITH_REFRESH_TOKEN"] = refresh
    event = _replace(event, values)
    if (
        "authorizer" in (event.get("requestContext") or {})
        and "REPLACE_WITH_ACCESS_TOKEN" in values
    ):
        event["requestContext"]["authorizer"] = {
            "lambda": authorizer_context(api, event, values["REPLACE_WITH_ACCESS_TOKEN"])
        }
    return event


def authorizer_context(api: LocalApi, event: Mapping[str, Any], token: str) -> Any:
    """What the route's authorizer answers for ``token``: the context API Gateway passes."""
    assert api.app is not None
    route = next((r for r in api.app.routes if r.route_key == event.get("routeKey")), None)
    if route is None or route.authorizer is None:
        raise InvokeError(f"preparing the event: route {event.get('routeKey')} has no authorizer")
    context = {k: v for k, v in (event.get("requestContext") or {}).items() if k != "authorizer"}
    method, _, path = str(route.route_key).partition(" ")
    request = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"arn:aws:execute-api:{api.region}:123456789012:localapi/$default/{method}{path}",
        "identitySource": [f"Bearer {token}"],
        "routeKey": route.route_key,
        "rawPath": event.get("rawPath", path),
        "rawQueryString": event.get("rawQueryString", ""),
        "headers": event.get("headers") or {},
        "requestContext": context,
    }
    answer, _ = api.functions[route.authorizer.function_id].invoke(request)
    if not (isinstance(answer, dict) and answer.get("isAuthorized")):
        raise InvokeError(f"preparing the event: the authorizer refused the token: {answer!r}")
    return answer.get("context") or {}


# -- the command ---------------------------------------------------------------------------


def _process_environ(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    """The environment the stack starts with: the caller's, minus every variable the
    template declares (the template's values, not the shell's, as with SAM), plus the
    variables the parameter overrides stand for, and the issuer."""
    declared: set[str] = set()
    sources = [(template.get("Globals") or {}).get("Function") or {}]
    sources += [
        (r or {}).get("Properties") or {}
        for r in template["Resources"].values()
        if (r or {}).get("Type") == FUNCTION
    ]
    for properties in sources:
        declared.update((properties.get("Environment") or {}).get("Variables") or {})
    environ = {k: v for k, v in os.environ.items() if k not in declared}
    for parameter, value in overrides.items():
        for variable in parameter_variables(template).get(parameter, []):
            environ[variable] = value
    environ.setdefault("JWT_ISSUER", DEFAULT_ISSUER)
    return environ


def _load_target(
    api: LocalApi, template: Mapping[str, Any], function_id: str, variables: Mapping[str, str]
) -> LoadedFunction:
    """The function to invoke, with ``--env-vars`` applied to the variables it declares."""
    loaded = api.functions.get(function_id)
    if loaded is not None and not variables:
        return loaded
    spec = (
        loaded.spec
        if loaded is not None
        else _function_spec(template, function_id, api.template_path.resolve().parent, api.resolver)
    )
    environment = dict(api.function_environment(spec))
    environment.update({k: v for k, v in variables.items() if k in spec.environment})
    function = LoadedFunction(spec, region=api.region)
    function.load(environment)
    return function


def _error_shape(exc: BaseException) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def main(argv: Sequence[str]) -> int:
    arguments = parse_arguments(argv)
    try:
        template = load_template(arguments.template)
        check_template(template)
        functions = _functions(template)
        if arguments.function not in functions:
            raise InvokeError(
                f"{arguments.function} is not a function of {arguments.template} "
                f"(its functions: {', '.join(functions)})"
            )
        event = read_event(arguments.event)
        variables = read_env_vars(arguments.env_vars, arguments.function)
        overrides = parse_overrides(arguments.parameter_overrides, template)
    except (InvokeError, TemplateError) as exc:
        sys.stderr.write(f"localapi invoke: {exc}\n")
        return 2
    parameters = template.get("Parameters") or {}
    if (
        MFA_ENROLLMENT_TOKEN in json.dumps(event)
        and MFA_PARAMETER in parameters
        and MFA_PARAMETER not in overrides
    ):
        overrides[MFA_PARAMETER] = "required"
        sys.stderr.write(
            f"[localapi invoke] {MFA_PARAMETER}=required: the event wants the mfa_token "
            "of a login that must enrol\n"
        )

    # Everything the stack and the functions print goes to stderr, as in `sam local
    # invoke` (Powertools logs to stdout, which in Lambda is the function's log).
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    saved_stdout, sys.stdout = sys.stdout, sys.stderr
    api = LocalApi(
        arguments.template,
        port=0,
        process_environ=_process_environ(template, overrides),
        log=sys.stderr,
        min_message_age=0.0,
        parameter_overrides=overrides,
    )
    status = 0
    try:
        api.start()
        event = prepare(api, event, sys.stderr)
        function = _load_target(api, template, arguments.function, variables)
        try:
            result, seconds = function.invoke(event)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            result, seconds, status = _error_shape(exc), 0.0, 1
        sys.stderr.write(
            f"[localapi invoke] {arguments.function} answered in {seconds * 1000:.1f} ms\n"
        )
        sys.stderr.flush()
        out.write(json.dumps(result) + "\n")
        out.flush()
    except (StartupError, FunctionLoadError, TemplateError, InvokeError) as exc:
        sys.stderr.write(f"localapi invoke: {exc}\n")
        status = 1
    finally:
        api.close()
        sys.stdout = saved_stdout
        out.close()
    return status
