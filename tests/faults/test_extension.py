"""The parameters and secrets extension failing: each function that reads keys or the
issuer through it (MfaVerifyFunction too: the public key set for the mfa_token, then the
signing key), imported afresh (a cold start: nothing cached), answers 503
`temporarily_unavailable` with Retry-After and writes nothing.

The extension fails four ways: Secrets Manager behind it throttled (the extension answers
an error status), unreachable (nothing listens on its port), hanging (accepts and never
answers: the client's timeout), and a reply cut short (an HTTP-level error, not an
OSError).
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from stateless_auth.domain import mfa as factor
from stateless_auth.storage import secrets_extension
from tests.faults.harness import FaultStack, account, failures
from tests.faults.scenarios import PASSWORD, expect_unavailable, new_email
from tests.support.events import body, load_event, with_json_body
from tests.support.handlers import import_handler, invoke

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@contextlib.contextmanager
def secrets_manager_throttled(faults: FaultStack) -> Iterator[None]:
    """Secrets Manager behind the extension answers ThrottlingException."""

    def throttled(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        http = AWSResponse("https://secretsmanager.invalid/", 400, HTTPHeaders(), io.BytesIO())
        error = {"Code": "ThrottlingException", "Message": "injected by tests/faults"}
        return http, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}

    events = faults.stack.aws.secretsmanager.meta.events
    events.register_first("before-call.secretsmanager.GetSecretValue", throttled)
    try:
        yield
    finally:
        events.unregister("before-call.secretsmanager.GetSecretValue", throttled)


@contextlib.contextmanager
def serving(answer: Callable[[socket.socket], None]) -> Iterator[int]:
    """A port whose connections get ``answer`` (run in a thread), for the extension."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.05)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(1)
            with conn:
                answer(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def _hang(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.recv(65536)
        conn.recv(65536)  # until the client gives up and closes


def _cut_short(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.recv(65536)
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n{"SecretString"')


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _login_event(email: str) -> dict[str, Any]:
    return with_json_body("login_ok.json", {"email": email, "password": PASSWORD})


def _mfa_verify_event(mfa_token: str) -> dict[str, Any]:
    # A right code is not needed: the keys are read first (the mfa_token's check, then
    # the signing key, before the reservation).
    return with_json_body("mfa_verify.json", {"mfa_token": mfa_token, "code": "123456"})


# (function, the event it gets, whether it reads the signing keys before any write)
ROUTES: dict[str, Callable[[User], dict[str, Any]]] = {
    "login": lambda user: _login_event(user.email),
    "refresh": lambda user: load_event("refresh_body.json"),
    "jwks": lambda user: load_event("jwks.json"),
    "openid": lambda user: load_event("openid_configuration.json"),
    "mfa_verify": lambda user: _mfa_verify_event(user.mfa_token),
}
FUNCTION = {
    "login": "login",
    "refresh": "refresh",
    "jwks": "jwks",
    "openid": "jwks",
    "mfa_verify": "mfa_verify",
}


@dataclass(frozen=True)
class User:
    email: str
    mfa_token: str  # of the account with MFA on


@pytest.fixture(scope="module")
def user(faults: FaultStack) -> User:
    email = str(faults.stack.sign_up_verified(new_email("ext"), PASSWORD)["email"])
    secret = factor.new_totp_secret()
    faults.stack.dynamodb.update_item(
        TableName=faults.stack.tables["UsersTable"],
        Key={"pk": {"S": f"EMAIL#{email}"}},
        UpdateExpression="SET totp_secret = :s, totp_last_step = :zero",
        ExpressionAttributeValues={":s": {"S": secret}, ":zero": {"N": "0"}},
    )
    token = body(invoke(faults.stack.handlers["login"], _login_event(email)))["mfa_token"]
    return User(email, str(token))


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("failure", ["throttled", "unreachable", "hanging", "cut-short"])
def test_the_extension_failing_answers_503(
    faults: FaultStack,
    user: User,
    route: str,
    failure: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(secrets_extension, "TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(secrets_extension, "RETRY_DELAYS", (0.01,))
    before = failures(faults.stack, user.email)
    with contextlib.ExitStack() as failing:
        if failure == "throttled":
            failing.enter_context(secrets_manager_throttled(faults))
        elif failure == "unreachable":
            monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(_closed_port()))
        else:
            port = failing.enter_context(serving(_hang if failure == "hanging" else _cut_short))
            monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(port))
        handler = import_handler(FUNCTION[route], module_name=f"faults_{route}_{failure}")
        reply = invoke(handler, ROUTES[route](user))
    expect_unavailable(reply)
    # Nothing written: the keys are read before anything changes.
    assert failures(faults.stack, user.email) == before
    assert account(faults.stack, user.email) is not None


def test_the_authorizer_denies_without_keys(
    faults: FaultStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The authorizer is no HTTP route: without keys it denies (API Gateway's 401/403),
    it never raises."""
    monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(_closed_port()))
    monkeypatch.setattr(secrets_extension, "RETRY_DELAYS", (0.01,))
    grant = faults.stack.log_in(
        faults.stack.sign_up_verified(new_email("authz"), PASSWORD)["email"], PASSWORD
    )
    handler = import_handler("authorizer", module_name="faults_authorizer_unreachable")
    event = load_event("authorizer_valid.json")
    event["headers"] = {**event["headers"], "authorization": f"Bearer {grant['access_token']}"}
    event["identitySource"] = [f"Bearer {grant['access_token']}"]
    decision = invoke(handler, event)
    assert decision.get("isAuthorized") is False, decision
