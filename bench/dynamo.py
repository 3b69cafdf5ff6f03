"""DynamoDB round trips per call, counted by a botocore event hook, and the login
handler's own time beyond the password hash.

The handlers run as Lambda runs them (functions/<name>/app.py imported by path) inside
moto, with the tables and secrets declared in template.yaml, the first key set made by
the rotation code, and keys read through the extension stand-in: the tests' own stack
(tests/support/aws.py, moto_stack). Before the handlers create their clients, hooks are registered on boto3's
default session, so every client they create inherits them:

- ``before-send.dynamodb``: one per HTTP request to DynamoDB (retries included), with
  the operation name; it also starts the "DynamoDB latency" clock;
- ``before-send.sqs``: one per HTTP request to SQS (the mail jobs the email flows
  queue, bench/mail.py), with the operation name;
- ``before-parse.dynamodb``: the response is in; the clock stops. What lies between
  (moto standing in for the network and DynamoDB) is what "excluding DynamoDB latency"
  leaves out; serialising, signing and parsing stay in the handler's time.

Login time beyond the hash: each warm login on the happy path is timed whole; the time
inside stateless_auth.domain.passwords.verify_password / hash_password (argon2id) and the
DynamoDB latency of that same call are subtracted; the median is reported.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

from bench.common import Row, apply_environment, median, ms
from tests.support.aws import MotoStack, moto_stack
from tests.support.events import (
    load_event,
    with_bearer,
    with_refresh_cookie,
    with_refresh_token_in_body,
)
from tests.support.handlers import LambdaContext, Stack, import_handler

SECTION = "DynamoDB"
# login: read the user and its failures, reserve an attempt (the conditional write that
# keeps the lock-out under concurrency, issue 8), open the session and clear the count.
# Signup and the other email flows: bench/mail.py.
BUDGETS = {"authorizer": 0, "login": 3, "refresh": 2, "logout": 2}
LOGIN_BEYOND_HASH_BUDGET = 0.005
_DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - the handlers' loggers keep it for the run


@dataclass
class DynamoMeter:
    """Requests to DynamoDB and the time spent waiting for them, and requests to SQS,
    from botocore's events."""

    operations: list[str] = field(default_factory=list)
    sqs_operations: list[str] = field(default_factory=list)
    waited: float = 0.0
    _sent_at: threading.local = field(default_factory=threading.local)

    def install(self, events: Any) -> None:
        events.register_first("before-send.dynamodb", self._before_send)
        events.register_last("before-parse.dynamodb", self._before_parse)
        events.register_first("before-send.sqs", self._before_send_sqs)

    def _before_send(self, event_name: str = "", **kwargs: Any) -> None:
        self.operations.append(event_name.rsplit(".", 1)[-1])
        self._sent_at.value = time.perf_counter()

    def _before_send_sqs(self, event_name: str = "", **kwargs: Any) -> None:
        self.sqs_operations.append(event_name.rsplit(".", 1)[-1])

    def _before_parse(self, **kwargs: Any) -> None:
        sent = getattr(self._sent_at, "value", None)
        if sent is not None:
            self.waited += time.perf_counter() - sent
            self._sent_at.value = None

    @contextmanager
    def measure(self) -> Iterator[Call]:
        call = Call()
        before_ops, before_wait = len(self.operations), self.waited
        before_sqs = len(self.sqs_operations)
        started = time.perf_counter()
        try:
            yield call
        finally:
            call.elapsed = time.perf_counter() - started
            call.operations = self.operations[before_ops:]
            call.sqs_operations = self.sqs_operations[before_sqs:]
            call.dynamodb = self.waited - before_wait


@dataclass
class Call:
    elapsed: float = 0.0
    dynamodb: float = 0.0
    hashing: float = 0.0
    operations: list[str] = field(default_factory=list)
    sqs_operations: list[str] = field(default_factory=list)


class HashClock:
    """Wraps stateless_auth.domain.passwords' argon2 entry points to time them."""

    def __init__(self) -> None:
        self.spent = 0.0
        self.verify_times: list[float] = []

    def install(self) -> Callable[[], None]:
        from stateless_auth.domain import passwords

        originals: dict[str, Callable[..., Any]] = {
            "verify_password": passwords.verify_password,
            "hash_password": passwords.hash_password,
        }

        def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    spent = time.perf_counter() - started
                    self.spent += spent
                    if name == "verify_password":
                        self.verify_times.append(spent)

            return wrapper

        for name, function in originals.items():
            setattr(passwords, name, timed(name, function))

        def uninstall() -> None:
            for name, function in originals.items():
                setattr(passwords, name, function)

        return uninstall


@contextmanager
def handlers_in_moto(
    names: tuple[str, ...], *, module_prefix: str, meter: DynamoMeter, **environment: str
) -> Iterator[tuple[MotoStack, dict[str, Any]]]:
    """The stack in moto and functions/<name>/app.py for each name, imported as Lambda
    imports them (under ``environment`` besides the stack's), every client they make
    counted by ``meter``."""
    import boto3

    apply_environment(environment)
    with moto_stack() as aws:
        # The handlers' clients come from boto3's default session, which moto_stack has
        # just set up: hooked now, before they import, every client they make is counted.
        assert boto3.DEFAULT_SESSION is not None
        meter.install(boto3.DEFAULT_SESSION.events)
        apply_environment({**aws.environment(), **environment})
        with redirect_stdout(_DEVNULL):
            handlers = {
                name: import_handler(name, module_name=f"{module_prefix}_{name}") for name in names
            }
        yield aws, handlers


def run(*, login_runs: int = 15) -> list[Row]:
    meter = DynamoMeter()
    hashes = HashClock()
    rows: list[Row] = []
    names = ("signup", "verify_email", "mailer", "login", "refresh", "logout", "authorizer")
    with handlers_in_moto(names, module_prefix="bench_handler", meter=meter) as (aws, handlers):
        with redirect_stdout(_DEVNULL):
            # The events' account, verified (EMAIL_VERIFICATION=required): not counted.
            stack = Stack(handlers, aws.dynamodb, aws.tables, aws.issuer, aws)
            stack.sign_up_verified("Ann@Example.com", "correct horse battery staple")
        uninstall = hashes.install()
        try:
            rows += _round_trips(handlers, meter)
            rows += _login_beyond_hash(handlers["login"], meter, hashes, login_runs)
        finally:
            uninstall()
    return rows


def _invoke(
    handlers: dict[str, Any], name: str, event: dict[str, Any], meter: DynamoMeter
) -> tuple[dict[str, Any], Call]:
    context = LambdaContext(function_name=name)
    with redirect_stdout(_DEVNULL), meter.measure() as call:
        reply: dict[str, Any] = handlers[name].lambda_handler(event, context)
    return reply, call


def _expect(reply: dict[str, Any], status: int, what: str) -> None:
    if reply.get("statusCode", 200) != status:
        raise RuntimeError(f"{what}: expected {status}, got {reply}")


def _round_trips(handlers: dict[str, Any], meter: DynamoMeter) -> list[Row]:
    import json

    counted: list[tuple[str, Call, int | None, str]] = []

    # Warm the functions that sign tokens (first call reads the key set), then count.
    reply, _ = _invoke(handlers, "login", load_event("login_body_delivery.json"), meter)
    _expect(reply, 200, "login (warm-up)")
    reply, call = _invoke(handlers, "login", load_event("login_ok.json"), meter)
    _expect(reply, 200, "login")
    counted.append(("login", call, BUDGETS["login"], "happy path"))

    reply, _ = _invoke(handlers, "login", load_event("login_body_delivery.json"), meter)
    _expect(reply, 200, "login (body delivery)")
    grant = json.loads(reply["body"])
    access_token, first_refresh = grant["access_token"], grant["refresh_token"]

    event = with_bearer("authorizer_valid.json", access_token)
    reply, call = _invoke(handlers, "authorizer", event, meter)
    if not reply.get("isAuthorized"):
        raise RuntimeError(f"authorizer denied a fresh access token: {reply}")
    counted.append(("authorizer", call, BUDGETS["authorizer"], "first call (reads keys)"))
    reply, call = _invoke(handlers, "authorizer", event, meter)
    counted.append(("authorizer", call, BUDGETS["authorizer"], "warm call"))

    reply, call = _invoke(
        handlers, "refresh", with_refresh_token_in_body("refresh_body.json", first_refresh), meter
    )
    _expect(reply, 200, "refresh")
    counted.append(("refresh", call, BUDGETS["refresh"], "happy path (rotation)"))

    reply, call = _invoke(
        handlers, "refresh", with_refresh_token_in_body("refresh_body.json", first_refresh), meter
    )
    _expect(reply, 401, "refresh reuse")
    counted.append(("refresh", call, None, "reuse of a rotated token (revokes)"))

    reply, _ = _invoke(handlers, "login", load_event("login_body_delivery.json"), meter)
    _expect(reply, 200, "login (for logout)")
    other_refresh = json.loads(reply["body"])["refresh_token"]
    reply, call = _invoke(
        handlers, "logout", with_refresh_cookie("logout_cookie.json", other_refresh), meter
    )
    _expect(reply, 204, "logout")
    counted.append(("logout", call, BUDGETS["logout"], "happy path"))

    reply, call = _invoke(handlers, "login", load_event("login_bad_password.json"), meter)
    _expect(reply, 401, "login with a wrong password")
    counted.append(("login", call, None, "wrong password (failure counted)"))
    reply, call = _invoke(handlers, "login", load_event("login_unknown_email.json"), meter)
    _expect(reply, 401, "login with an unknown email")
    counted.append(("login", call, None, "unknown email (failure counted)"))
    # Clear the failure count so that the timed logins below are plain happy paths.
    reply, _ = _invoke(handlers, "login", load_event("login_ok.json"), meter)
    _expect(reply, 200, "login (reset)")

    rows = []
    for name, call, budget, path in counted:
        count = len(call.operations)
        ops = ", ".join(call.operations) or "none"
        rows.append(
            Row(
                SECTION,
                f"{name} round trips, {path}",
                float(count),
                f"{count} ({ops})",
                budget="" if budget is None else (f"{budget}" if budget == 0 else f"≤ {budget}"),
                passed=None if budget is None else count <= budget,
            )
        )
    return rows


def _login_beyond_hash(login: Any, meter: DynamoMeter, hashes: HashClock, runs: int) -> list[Row]:
    handlers = {"login": login}
    beyond: list[float] = []
    totals: list[float] = []
    waits: list[float] = []
    hashing: list[float] = []
    first_verify = len(hashes.verify_times)
    for _ in range(runs):
        spent_before = hashes.spent
        reply, call = _invoke(handlers, "login", load_event("login_ok.json"), meter)
        _expect(reply, 200, "login")
        call.hashing = hashes.spent - spent_before
        totals.append(call.elapsed)
        waits.append(call.dynamodb)
        hashing.append(call.hashing)
        beyond.append(call.elapsed - call.hashing - call.dynamodb)
    value = median(beyond)
    verify = median(hashes.verify_times[first_verify:])
    return [
        Row(
            "login",
            "login handler time beyond the password hash",
            value,
            ms(value),
            budget=f"≤ {LOGIN_BEYOND_HASH_BUDGET * 1e3:.0f} ms",
            passed=value <= LOGIN_BEYOND_HASH_BUDGET,
            note=(
                f"median of {runs} warm logins: whole call {ms(median(totals))} minus argon2 "
                f"{ms(median(hashing))} minus DynamoDB wait {ms(median(waits))}, each per call"
            ),
            data={"beyond": beyond, "total": totals, "dynamodb": waits, "hashing": hashing},
        ),
        Row(
            "login",
            "argon2id verify inside login",
            verify,
            ms(verify),
            note="median, same runs; stateless_auth.domain.passwords.verify_password",
        ),
    ]
