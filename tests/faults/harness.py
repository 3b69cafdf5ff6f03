"""Fault injection on botocore's public event system.

``Injector`` is registered for ``before-call`` (every service, every operation) on boto3's
default session before the handlers are imported, so every client the functions make is
covered and the tests' own clients (made earlier, for setting up and reading moto) are
not. It records the calls of a clean run (``recording``), and when armed makes the Nth
call fail with one ``Fault`` instead of reaching moto: a ClientError as the service would
answer it (status and error code, a transaction's cancellation reasons), or a botocore
timeout raised where the HTTP layer would raise it. Answering in ``before-call`` skips
botocore's retries (they run below it): the fault stands for one that outlasted them.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

from tests.support.handlers import Stack, import_handler

TRANSACT = "TransactWriteItems"


@dataclass(frozen=True)
class Call:
    """One AWS call a handler made: service and operation (``dynamodb.GetItem``)."""

    service: str
    operation: str
    items: int = 0  # a transaction's items

    def __str__(self) -> str:
        return f"{self.service}.{self.operation}"

    @classmethod
    def named(cls, name: str) -> Call:
        service, operation = name.split(".", 1)
        return cls(service, operation)


@dataclass(frozen=True)
class Fault:
    """One way a call fails."""

    name: str
    # What the call gets instead of moto's answer: (status, error code, reasons) or an
    # exception class to raise.
    status: int = 400
    code: str = ""
    reasons: tuple[str, ...] = ()
    raises: type[ConnectTimeoutError] | type[ReadTimeoutError] | None = None
    transactions_only: bool = False

    def applies_to(self, call: Call) -> bool:
        if self.transactions_only:
            return call.operation == TRANSACT
        if self.code in ("ProvisionedThroughputExceededException", "RequestLimitExceeded"):
            return call.service == "dynamodb"
        return True

    def answer(self, call: Call) -> tuple[AWSResponse, dict[str, Any]]:
        if self.raises is not None:
            raise self.raises(endpoint_url=f"https://{call.service}.invalid/")
        http = AWSResponse(
            f"https://{call.service}.invalid/", self.status, HTTPHeaders(), io.BytesIO(b"")
        )
        parsed: dict[str, Any] = {
            "Error": {"Code": self.code, "Message": f"injected by tests/faults: {self.name}"},
            "ResponseMetadata": {"HTTPStatusCode": self.status},
        }
        if self.reasons:
            # The first items carry the reasons, the rest passed.
            codes = list(self.reasons) + ["None"] * max(0, call.items - len(self.reasons))
            parsed["CancellationReasons"] = [
                {"Code": code, "Message": code} if code != "None" else {"Code": "None"}
                for code in codes
            ]
        return http, parsed


def _cancelled(name: str, *reasons: str) -> Fault:
    return Fault(name, code="TransactionCanceledException", reasons=reasons, transactions_only=True)


FAULTS = (
    Fault("throughput-exceeded", code="ProvisionedThroughputExceededException"),
    Fault("throttling", code="ThrottlingException"),
    Fault("request-limit", code="RequestLimitExceeded"),
    Fault("internal-error-500", status=500, code="InternalServerError"),
    Fault("unavailable-503", status=503, code="ServiceUnavailable"),
    Fault("read-timeout", raises=ReadTimeoutError),
    Fault("connect-timeout", raises=ConnectTimeoutError),
    _cancelled("cancelled-conflict", "TransactionConflict"),
    _cancelled("cancelled-throttling", "ThrottlingError"),
    # A condition failing beside a conflict is not our condition's answer.
    _cancelled("cancelled-condition-and-conflict", "ConditionalCheckFailed", "TransactionConflict"),
)


class _Body(io.BytesIO):
    """A raw HTTP body as botocore reads it (``stream()``)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


@dataclass
class Injector:
    """Records the AWS calls through boto3's default session, and fails one when armed."""

    calls: list[Call] = field(default_factory=list)
    recording: bool = False
    armed: tuple[int, Fault] | None = None  # (index of the call to fail, the fault)
    fired: Call | None = None
    # Sends (HTTP attempts, below botocore's retries) still to answer with a 500.
    transient: int = 0
    sends: int = 0
    _seen: int = 0

    def install(self, events: Any) -> None:
        events.register_first("before-call", self._before_call)
        events.register_first("before-send", self._before_send)

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        self.sends += 1
        if self.transient <= 0:
            return None
        self.transient -= 1
        return AWSResponse(request.url, 500, HTTPHeaders(), _Body(b"{}"))

    def _before_call(
        self, model: Any, params: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        call = Call(
            str(model.service_model.service_name),
            str(model.name),
            len(params.get("TransactItems") or ()),
        )
        if self.recording:
            self.calls.append(call)
        if self.armed is None:
            return None
        index, fault = self.armed
        self._seen += 1
        if self._seen - 1 != index:
            return None
        self.fired = call
        return fault.answer(call)

    @contextlib.contextmanager
    def record(self) -> Iterator[list[Call]]:
        """The calls made inside, in order."""
        self.calls, self.recording = [], True
        try:
            yield self.calls
        finally:
            self.recording = False

    @contextlib.contextmanager
    def failing(self, index: int, fault: Fault) -> Iterator[None]:
        """The ``index``-th call (from 0) made inside fails with ``fault``."""
        self.armed, self._seen, self.fired = (index, fault), 0, None
        try:
            yield
        finally:
            self.armed = None


@dataclass
class FaultStack:
    stack: Stack
    injector: Injector


@contextlib.contextmanager
def fault_stack(names: tuple[str, ...]) -> Iterator[FaultStack]:
    """tests.support.handlers.stack_in_moto with the injector on boto3's default session
    before the handlers (and so their clients) are made."""
    import boto3

    from tests.support.aws import moto_stack
    from tests.support.settings import AUDIENCE

    injector = Injector()
    with moto_stack() as aws, pytest.MonkeyPatch.context() as environment:
        injector.install(boto3.DEFAULT_SESSION.events)  # type: ignore[union-attr]
        for name, value in {"JWT_AUDIENCE": AUDIENCE, **aws.environment()}.items():
            environment.setenv(name, value)
        stack = Stack(
            handlers={name: import_handler(name) for name in names},
            dynamodb=aws.dynamodb,
            tables=aws.tables,
            issuer=aws.issuer,
            aws=aws,
        )
        yield FaultStack(stack, injector)


# --- reading the state back from moto (the tests' own client: never failed) -----------


def scan(stack: Stack, table: str, **filters: str) -> list[dict[str, Any]]:
    """The table's items (those whose string attributes equal ``filters``)."""
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": stack.tables[table], "ConsistentRead": True}
    if filters:
        names = {f"#a{i}": name for i, name in enumerate(filters)}
        request["FilterExpression"] = " AND ".join(f"#a{i} = :v{i}" for i in range(len(filters)))
        request["ExpressionAttributeNames"] = names
        request["ExpressionAttributeValues"] = {
            f":v{i}": {"S": value} for i, value in enumerate(filters.values())
        }
    while True:
        reply = stack.dynamodb.scan(**request)
        items += reply.get("Items", [])
        if "LastEvaluatedKey" not in reply:
            return items
        request["ExclusiveStartKey"] = reply["LastEvaluatedKey"]


def get(stack: Stack, table: str, pk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = stack.dynamodb.get_item(
        TableName=stack.tables[table], Key={"pk": {"S": pk}}, ConsistentRead=True
    ).get("Item")
    return item


def session_violations(stack: Stack, email: str, user_id: str) -> list[str]:
    """The user's sessions that are neither revoked/unlisted nor at exactly one current
    refresh token (the one the session item points at), and listed sessions without a
    session item."""
    items = scan(stack, "SessionsTable", user_id=user_id)  # sessions and their tokens
    found = account(stack, email)
    listed = set()
    if found is not None and found["user_id"]["S"] == user_id:
        listed = set(found.get("sessions", {}).get("M", {}))
    current: dict[str, list[str]] = {}
    sessions: dict[str, dict[str, Any]] = {}
    for item in items:
        pk = item["pk"]["S"]
        if pk.startswith("TOKEN#") and item["state"]["S"] == "current":
            current.setdefault(item["session_id"]["S"], []).append(pk.removeprefix("TOKEN#"))
        elif pk.startswith("SESSION#"):
            sessions[pk.removeprefix("SESSION#")] = item
    problems = []
    for session_id, session in sessions.items():
        if "revoked_at" in session or session_id not in listed:
            continue  # ended: it can no longer refresh
        tokens = current.get(session_id, [])
        if tokens != [session["current_token_hash"]["S"]]:
            problems.append(f"session {session_id}: current tokens {tokens}")
    problems += [f"listed session {sid} has no session item" for sid in listed - set(sessions)]
    return problems


def failures(stack: Stack, email: str) -> int:
    """The email's failed passwords (its FAILED# item)."""
    item = get(stack, "UsersTable", f"FAILED#{email}") or {}
    return int(item.get("failures", {}).get("N", "0"))


def code_failures(stack: Stack, email: str) -> int:
    """The account's own count of wrong second-factor codes (on its EMAIL# item)."""
    item = get(stack, "UsersTable", f"EMAIL#{email}") or {}
    return int(item.get("code_failures", {}).get("N", "0"))


def account(stack: Stack, email: str) -> dict[str, Any] | None:
    item = get(stack, "UsersTable", f"EMAIL#{email}")
    return item if item and "user_id" in item else None


_verified: dict[tuple[str, str], bool] = {}  # (hash, password) -> verifies (argon2 is slow)


def password_verifies(stack: Stack, email: str, *passwords: str) -> list[str]:
    """Which of ``passwords`` the account's stored hash accepts."""
    from stateless_auth.domain.passwords import verify_password

    item = account(stack, email)
    assert item is not None, f"no account for {email}"
    stored = item["password_hash"]["S"]
    for password in passwords:
        if (stored, password) not in _verified:
            _verified[stored, password] = verify_password(stored, password)
    return [p for p in passwords if _verified[stored, p]]


Check = Callable[[], None]
