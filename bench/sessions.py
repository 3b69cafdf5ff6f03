"""Sessions and account: DynamoDB (and SQS) round trips of each new route, counted as in
bench/dynamo.py (functions/<name>/app.py in moto, the botocore hooks on boto3's default
session: bench.dynamo.handlers_in_moto).

Each route's event is its file in events/ with the caller's real context: a login's
access token is put through the authorizer handler and its context (``sub``, ``email``,
``sid``, ...) becomes ``requestContext.authorizer.lambda``, as API Gateway passes it, so
the rows also confirm that the authorizer's context carries ``sid`` (at no round trip).

Budgets (issue 11): list 1; end one ≤ 2; logout-all ≤ 1 + one per 25 sessions (counted
with 1 session and with 30: the design makes it 1 whatever the number); password change
≤ 3 + logout-all's (the read, the lock-out reservation, the change); DELETE /me reported.
The change and the deletion each queue one notice (SQS SendMessage exactly 1).

The account item carries the list, so its size grows with the sessions listed: the size
DynamoDB bills (attribute names and values, DynamoDB's sizing rules) is reported with
30 sessions of a browser's User-Agent, and what a refresh then costs in write units
(its transaction updates the account item: 2 WRU per started KB of it).
"""

from __future__ import annotations

import json
import math
from contextlib import redirect_stdout
from typing import Any

from bench.common import Row
from bench.dynamo import _DEVNULL, Call, DynamoMeter, handlers_in_moto
from tests.support.events import with_bearer, with_json_body, with_refresh_token_in_body
from tests.support.handlers import LambdaContext, Stack

SECTION = "sessions"
EMAIL = "Ann@Example.com"  # the events' account
OTHER_EMAIL = "bob@example.com"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a new and long enough passphrase"  # events/password_change.json's
SESSION_ID_PLACEHOLDER = "REPLACE_WITH_SESSION_ID"
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
SESSIONS_PER_WRITE = 25  # the budget's "one per 25 sessions"
MANY_SESSIONS = 30
# DynamoDB round trips at most (None: reported), SQS SendMessage exactly.
LIST_BUDGET = 1
END_ONE_BUDGET = 2
CHANGE_BUDGET_BEFORE_REVOKE = 3
HANDLERS = (
    "signup",
    "verify_email",
    "mailer",
    "login",
    "refresh",
    "authorizer",
    "sessions",
    "account",
)


def logout_all_budget(sessions: int) -> int:
    """1 + one per 25 sessions (issue 11)."""
    return 1 + sessions // SESSIONS_PER_WRITE


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it for capacity: each attribute's name plus its
    value (strings as UTF-8, numbers about 1 byte per 2 digits + 1, a map or list 3
    bytes + 1 per element + its elements)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return math.ceil(len(str(inner).lstrip("-").replace(".", "")) / 2) + 1
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in inner)
    return len(json.dumps(inner))


def run() -> list[Row]:
    meter = DynamoMeter()
    with handlers_in_moto(HANDLERS, module_prefix="bench_sessions_handler", meter=meter) as (
        aws,
        handlers,
    ):
        stack = Stack(handlers, aws.dynamodb, aws.tables, aws.issuer, aws)
        with redirect_stdout(_DEVNULL):
            stack.sign_up_verified(EMAIL, PASSWORD)
            stack.sign_up_verified(OTHER_EMAIL, PASSWORD)
        return SessionsBench(stack, meter).round_trips()


class SessionsBench:
    def __init__(self, stack: Stack, meter: DynamoMeter) -> None:
        self.stack = stack
        self.meter = meter
        self.rows: list[Row] = []

    # -- calls -------------------------------------------------------------------------

    def invoke(self, name: str, event: dict[str, Any], status: int | None) -> tuple[Any, Call]:
        with redirect_stdout(_DEVNULL), self.meter.measure() as call:
            reply = self.stack.handlers[name].lambda_handler(
                event, LambdaContext(function_name=name)
            )
        if status is not None and reply.get("statusCode") != status:
            raise RuntimeError(f"{name}: expected {status}, got {reply}")
        return reply, call

    def log_in(
        self, password: str = PASSWORD, email: str = EMAIL, *, user_agent: str | None = None
    ) -> str:
        """A new session (not counted); its access token."""
        return self.log_in_for_tokens(password, email, user_agent=user_agent)[0]

    def log_in_for_tokens(
        self, password: str = PASSWORD, email: str = EMAIL, *, user_agent: str | None = None
    ) -> tuple[str, str]:
        """A new session (not counted); its access and refresh tokens."""
        event = with_json_body(
            "login_body_delivery.json",
            {"email": email, "password": password, "refresh_token_delivery": "body"},
        )
        if user_agent is not None:
            event["headers"] = {**event["headers"], "user-agent": user_agent}
            http = {**event["requestContext"]["http"], "userAgent": user_agent}
            event["requestContext"] = {**event["requestContext"], "http": http}
        reply, _ = self.invoke("login", event, 200)
        grant = json.loads(reply["body"])
        return str(grant["access_token"]), str(grant["refresh_token"])

    def account_size(self) -> int:
        """The account item's size as DynamoDB bills it (read uncounted: not a handler's)."""
        stack = self.stack
        item = stack.dynamodb.get_item(
            TableName=stack.tables["UsersTable"],
            Key={"pk": {"S": f"EMAIL#{EMAIL.lower()}"}},
            ConsistentRead=True,
        )["Item"]
        return item_size(item)

    def authorized(
        self, name: str, access_token: str, *, body: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """events/<name> as API Gateway passes it after the authorizer allowed the token:
        the authorizer's own context (not counted; it makes no round trip, counted in
        the DynamoDB part)."""
        decision, call = self.invoke(
            "authorizer", with_bearer("authorizer_valid.json", access_token), None
        )
        if not decision.get("isAuthorized") or call.operations:
            raise RuntimeError(f"the authorizer: {decision}, {call.operations}")
        context = decision["context"]
        if not context.get("sid"):
            raise RuntimeError(f"no sid in the authorizer's context: {context}")
        event = with_bearer(name, access_token)
        event["requestContext"] = {**event["requestContext"], "authorizer": {"lambda": context}}
        if body is not None:
            event["body"] = json.dumps(body)
        return event

    def end_one_event(self, access_token: str, session_id: str) -> dict[str, Any]:
        event = self.authorized("sessions_delete.json", access_token)
        text = json.dumps(event).replace(SESSION_ID_PLACEHOLDER, session_id)
        ended: dict[str, Any] = json.loads(text)
        return ended

    def sid_of(self, access_token: str) -> str:
        decision, _ = self.invoke(
            "authorizer", with_bearer("authorizer_valid.json", access_token), None
        )
        return str(decision["context"]["sid"])

    def count(
        self, figure: str, call: Call, budget: int | None = None, *, enqueues: int | None = None
    ) -> None:
        dynamodb, sqs = len(call.operations), len(call.sqs_operations)
        shown = f"{dynamodb} ({', '.join(call.operations) or 'none'})"
        if enqueues is not None or sqs:
            shown += f" + SQS {sqs} ({', '.join(call.sqs_operations) or 'none'})"
        if budget is None:
            self.rows.append(Row(SECTION, figure, float(dynamodb), shown))
            return
        passed = dynamodb <= budget and (enqueues is None or sqs == enqueues)
        shown_budget = f"≤ {budget}" + ("" if enqueues is None else f" + SQS {enqueues}")
        self.rows.append(
            Row(
                SECTION,
                figure,
                float(dynamodb),
                shown,
                budget=shown_budget,
                passed=passed,
                data={"dynamodb": call.operations, "sqs": call.sqs_operations},
            )
        )

    def listed(self, access_token: str) -> list[dict[str, Any]]:
        """The caller's sessions (not counted)."""
        reply, _ = self.invoke("sessions", self.authorized("sessions_list.json", access_token), 200)
        sessions: list[dict[str, Any]] = json.loads(reply["body"])["sessions"]
        return sessions

    def expect_sessions(self, access_token: str, count: int, what: str) -> None:
        found = len(self.listed(access_token))
        if found != count:
            raise RuntimeError(f"{what}: {found} sessions listed, expected {count}")

    def drain_mail(self) -> None:
        with redirect_stdout(_DEVNULL):
            self.stack.run_mailer()

    # -- the figures -------------------------------------------------------------------

    def round_trips(self) -> list[Row]:
        # Warm every function first (the login's key set read, the clients), uncounted.
        caller = self.log_in()
        self.invoke("sessions", self.authorized("sessions_list.json", caller), 200)

        other = self.log_in()
        _, call = self.invoke("sessions", self.authorized("sessions_list.json", caller), 200)
        self.count("list round trips, 2 sessions", call, LIST_BUDGET)

        event = self.end_one_event(caller, self.sid_of(other))
        _, call = self.invoke("sessions", event, 204)
        self.count("end one round trips", call, END_ONE_BUDGET)
        self.expect_sessions(caller, 1, "after ending one")
        _, call = self.invoke("sessions", event, 404)
        self.count("end one round trips, an ended id (404)", call)
        bob = self.log_in(email=OTHER_EMAIL)
        _, call = self.invoke("sessions", self.end_one_event(caller, self.sid_of(bob)), 404)
        self.count("end one round trips, another user's id (404)", call)
        self.expect_sessions(bob, 1, "another user's session, after the 404")
        _, call = self.invoke("sessions", self.end_one_event(caller, "not-a-session-id"), 404)
        self.count("end one round trips, malformed id (404)", call)

        _, call = self.invoke("sessions", self.authorized("logout_all.json", caller), 204)
        self.count("logout-all round trips, 1 session", call, logout_all_budget(1))
        self.expect_sessions(caller, 0, "after logout-all")
        # The ended sessions' access tokens still pass the authorizer (CONTRACT §4):
        # log in afresh for the rest.
        caller, refresh_token = self.log_in_for_tokens(user_agent=BROWSER)
        for _ in range(MANY_SESSIONS - 1):
            self.log_in(user_agent=BROWSER)
        self.expect_sessions(caller, MANY_SESSIONS, "before logout-all")
        before = len(self.meter.operations)
        size = self.account_size()
        del self.meter.operations[before:]  # the bench's own read
        kilobytes = math.ceil(size / 1024)
        self.rows.append(
            Row(
                SECTION,
                f"account item with {MANY_SESSIONS} sessions listed (a browser's agent)",
                float(size),
                f"{size / 1024:.1f} KB: a refresh's account update {2 * kilobytes} WRU",
                note=(
                    "DynamoDB bills an update by the item's size (the larger of before and "
                    "after), 1 WRU per started KB, doubled in a transaction; a list read "
                    f"{math.ceil(size / 4096)} RRU (4 KB each, strongly consistent)"
                ),
            )
        )
        event = with_refresh_token_in_body("refresh_body.json", refresh_token)
        _, call = self.invoke("refresh", event, 200)
        self.count(f"refresh round trips, {MANY_SESSIONS} sessions listed", call)
        _, call = self.invoke("sessions", self.authorized("sessions_list.json", caller), 200)
        self.count(f"list round trips, {MANY_SESSIONS} sessions", call, LIST_BUDGET)
        _, call = self.invoke("sessions", self.authorized("logout_all.json", caller), 204)
        self.count(
            f"logout-all round trips, {MANY_SESSIONS} sessions",
            call,
            logout_all_budget(MANY_SESSIONS),
        )
        self.expect_sessions(caller, 0, f"after logout-all of {MANY_SESSIONS}")

        caller = self.log_in()
        self.log_in()
        change_budget = CHANGE_BUDGET_BEFORE_REVOKE + logout_all_budget(2)
        wrong = {"current_password": "a wrong but long passphrase", "new_password": NEW_PASSWORD}
        event = self.authorized("password_change.json", caller, body=wrong)
        _, call = self.invoke("account", event, 401)
        self.count("password change round trips, wrong current password (401)", call)
        _, call = self.invoke("account", self.authorized("password_change_weak.json", caller), 400)
        self.count("password change round trips, weak new password (400)", call)
        _, call = self.invoke("account", self.authorized("password_change.json", caller), 204)
        self.count(
            "password change round trips (2 sessions, the caller's kept)",
            call,
            change_budget,
            enqueues=1,
        )
        self.expect_sessions(caller, 1, "after the password change")
        self.drain_mail()

        caller = self.log_in(NEW_PASSWORD)
        self.log_in(NEW_PASSWORD)
        wrong_password = {"password": "a wrong but long passphrase"}
        event = self.authorized("account_delete.json", caller, body=wrong_password)
        _, call = self.invoke("account", event, 401)
        self.count("DELETE /me round trips, wrong password (401)", call)
        event = self.authorized("account_delete.json", caller, body={"password": NEW_PASSWORD})
        _, call = self.invoke("account", event, 204)
        self.count("DELETE /me round trips (3 sessions)", call, None, enqueues=1)
        self.expect_sessions(caller, 0, "after DELETE /me")
        self.drain_mail()
        return self.rows
