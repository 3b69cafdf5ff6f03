"""The second factor (issue 14): the round trips of an MFA login (login → mfa_required →
verify) and what it costs against a password login measured in the same run, plus the
enrolment and management routes' round trips.

Under moto with the template's tables and queues, counted as bench/dynamo.py counts
(botocore's before-send hooks on boto3's default session: bench.dynamo.handlers_in_moto).
Two accounts: the events' one with MFA off (the floor: a password login) and one that
enrolled through the real routes (enroll, then confirm with a code computed from the
returned secret), each route's events/ file carrying the authorizer handler's own
context for a real access token, as API Gateway passes it.

Budgets:

- login of an account with MFA on (its answer is mfa_required) ≤ 3, a password login's
  budget (bench/dynamo.py); verify with a code ≤ 3, with a recovery code ≤ 3 + SQS 1
  (the notice);
- the whole MFA login's round trips / a password login's, counted in the same run,
  ≤ 2.00x (each step no dearer than a password login);
- its answer time (login + verify, whole handler calls) / a password login's, interleaved
  rounds, ≤ 1.50x: the second step hashes no password, so it must cost well under one;
- the verify's own time beyond its DynamoDB requests ≤ 5 ms (login's budget beyond its
  password hash, bench/dynamo.py).

The TOTP step each timed round uses is unused: between rounds the account's last
accepted step is set back (the bench's own write to moto, uncounted), so no round waits
for a new 30 s step.
"""

from __future__ import annotations

import gc
import json
import time
from contextlib import redirect_stdout
from typing import Any

from bench.common import Row, median, ms
from bench.dynamo import _DEVNULL, BUDGETS, Call, DynamoMeter, handlers_in_moto
from stateless_auth.domain import mfa as factor
from tests.support.events import with_bearer, with_json_body, with_refresh_token_in_body
from tests.support.handlers import LambdaContext, Stack

SECTION = "mfa"
EMAIL = "Ann@Example.com"  # the events' account: MFA off, the floor
MFA_EMAIL = "mo@example.com"
PASSWORD = "correct horse battery staple"
LOGIN_BUDGET = BUDGETS["login"]  # 3: a password login's
VERIFY_BUDGET = 3
ROUND_TRIP_RATIO_BUDGET = 2.0
TIME_RATIO_BUDGET = 1.5
VERIFY_BEYOND_DYNAMODB_BUDGET = 0.005  # login's beyond-the-hash budget
HANDLERS = (
    "signup",
    "verify_email",
    "mailer",
    "login",
    "refresh",
    "authorizer",
    "mfa",
    "mfa_verify",
)


def run(*, timing_rounds: int = 15) -> list[Row]:
    meter = DynamoMeter()
    with handlers_in_moto(HANDLERS, module_prefix="bench_mfa_handler", meter=meter) as (
        aws,
        handlers,
    ):
        stack = Stack(handlers, aws.dynamodb, aws.tables, aws.issuer, aws)
        with redirect_stdout(_DEVNULL):
            stack.sign_up_verified(EMAIL, PASSWORD)
            stack.sign_up_verified(MFA_EMAIL, PASSWORD)
        bench = MfaBench(stack, meter)
        bench.round_trips()
        bench.timing(timing_rounds)
        return bench.rows


class MfaBench:
    def __init__(self, stack: Stack, meter: DynamoMeter) -> None:
        self.stack = stack
        self.meter = meter
        self.rows: list[Row] = []
        self.secret = ""
        self.recovery_codes: list[str] = []

    # -- calls -------------------------------------------------------------------------

    def invoke(self, name: str, event: dict[str, Any], status: int | None) -> tuple[Any, Call]:
        with redirect_stdout(_DEVNULL), self.meter.measure() as call:
            reply = self.stack.handlers[name].lambda_handler(
                event, LambdaContext(function_name=name)
            )
        if status is not None and reply.get("statusCode") != status:
            raise RuntimeError(f"{name}: expected {status}, got {reply}")
        return reply, call

    def login(self, email: str, status: int = 200) -> tuple[dict[str, Any], Call]:
        event = with_json_body(
            "login_body_delivery.json",
            {"email": email, "password": PASSWORD, "refresh_token_delivery": "body"},
        )
        reply, call = self.invoke("login", event, status)
        answer: dict[str, Any] = json.loads(reply["body"])
        return answer, call

    def mfa_token(self) -> str:
        answer, _ = self.login(MFA_EMAIL)
        if answer.get("mfa_required") is not True:
            raise RuntimeError(f"login of the MFA account: {answer}")
        return str(answer["mfa_token"])

    def verify(self, token: str, status: int = 200, **factor_typed: str) -> tuple[Any, Call]:
        name = "mfa_verify_recovery.json" if "recovery_code" in factor_typed else "mfa_verify.json"
        event = with_json_body(name, {"mfa_token": token, **factor_typed})
        return self.invoke("mfa_verify", event, status)

    def code(self) -> str:
        """A code of the current step, made unused first (uncounted)."""
        self.stack.dynamodb.update_item(
            TableName=self.stack.tables["UsersTable"],
            Key={"pk": {"S": f"EMAIL#{MFA_EMAIL}"}},
            UpdateExpression="SET totp_last_step = :zero",
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )
        return factor.totp_code(self.secret, factor.time_step(time.time()))

    def authorized(
        self, name: str, access_token: str, payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """events/<name> with the authorizer handler's own context (not counted)."""
        decision, _ = self.invoke(
            "authorizer", with_bearer("authorizer_valid.json", access_token), None
        )
        if not decision.get("isAuthorized"):
            raise RuntimeError(f"the authorizer denied: {decision}")
        event = with_bearer(name, access_token)
        event["requestContext"] = {
            **event["requestContext"],
            "authorizer": {"lambda": decision["context"]},
        }
        if payload is not None:
            event["body"] = json.dumps(payload)
        return event

    def count(
        self,
        figure: str,
        call: Call,
        budget: int | None = None,
        *,
        enqueues: int | None = None,
    ) -> None:
        dynamodb, sqs = len(call.operations), len(call.sqs_operations)
        shown = f"{dynamodb} ({', '.join(call.operations) or 'none'})"
        if enqueues is not None or sqs:
            shown += f" + SQS {sqs} ({', '.join(call.sqs_operations) or 'none'})"
        row = Row(
            SECTION,
            figure,
            float(dynamodb),
            shown,
            data={"dynamodb": call.operations, "sqs": call.sqs_operations},
        )
        if budget is not None:
            row.budget = f"≤ {budget}" + ("" if enqueues is None else f" + SQS {enqueues}")
            row.passed = dynamodb <= budget and (enqueues is None or sqs == enqueues)
        self.rows.append(row)

    # -- the figures -------------------------------------------------------------------

    def round_trips(self) -> None:
        # The floor's login first (also warms login's key read), then enrol the other
        # account through the routes.
        self.login(EMAIL)
        _, floor = self.login(EMAIL)
        self.count("password login round trips (MFA off: the floor)", floor, LOGIN_BUDGET)
        access = self.login(MFA_EMAIL)[0]["access_token"]
        event = self.authorized("mfa_enroll.json", access, {"password": PASSWORD})
        reply, call = self.invoke("mfa", event, 200)
        self.count("enroll round trips (the password checked)", call)
        self.secret = json.loads(reply["body"])["secret"]
        code = factor.totp_code(self.secret, factor.time_step(time.time()))
        event = self.authorized("mfa_confirm.json", access, {"code": code})
        reply, call = self.invoke("mfa", event, 200)
        self.count("confirm round trips (MFA on, 10 recovery codes)", call, enqueues=1)
        self.recovery_codes = list(json.loads(reply["body"])["recovery_codes"])

        # Warm mfa_verify (its key set reads), uncounted.
        self.verify(self.mfa_token(), code=self.code())
        answer, login = self.login(MFA_EMAIL)
        self.count("login round trips, MFA on (answers mfa_required)", login, LOGIN_BUDGET)
        code = self.code()
        reply, verify = self.verify(answer["mfa_token"], code=code)
        self.count("verify round trips, a TOTP code (opens the session)", verify, VERIFY_BUDGET)
        grant = json.loads(reply["body"])
        _, call = self.verify(self.mfa_token(), 401, code=code)
        self.count("verify round trips, the same code again (401)", call)
        _, call = self.verify(self.mfa_token(), 401, code="000000")
        self.count("verify round trips, a wrong code (401, counted toward the lock-out)", call)
        _, recovery = self.verify(self.mfa_token(), recovery_code=self.recovery_codes[0])
        self.count(
            "verify round trips, a recovery code (+ its notice)",
            recovery,
            VERIFY_BUDGET,
            enqueues=1,
        )
        event = with_refresh_token_in_body("refresh_body.json", grant["refresh_token"])
        _, call = self.invoke("refresh", event, 200)
        self.count("refresh round trips, an MFA session (amr kept)", call, BUDGETS["refresh"])

        total = len(login.operations) + len(verify.operations)
        ratio = total / len(floor.operations)
        self.rows.append(
            Row(
                SECTION,
                "MFA login round trips (login + verify) / password login",
                ratio,
                f"{ratio:.2f}x ({total}; floor {len(floor.operations)})",
                budget=f"≤ {ROUND_TRIP_RATIO_BUDGET:.2f}x",
                passed=ratio <= ROUND_TRIP_RATIO_BUDGET,
                note="both counted in this run: " + ", ".join(login.operations + verify.operations),
            )
        )

        access = grant["access_token"]
        payload = {"password": PASSWORD, "code": self.code()}
        event = self.authorized("mfa_recovery_codes.json", access, payload)
        reply, call = self.invoke("mfa", event, 200)
        self.count("recovery-codes round trips (password + code)", call, enqueues=1)
        payload = {"password": PASSWORD, "code": self.code()}
        _, call = self.invoke("mfa", self.authorized("mfa_disable.json", access, payload), 204)
        self.count("DELETE /auth/mfa round trips (password + code; others ended)", call, enqueues=1)
        with redirect_stdout(_DEVNULL):
            self.stack.run_mailer()
        # On again for the timing (uncounted).
        event = self.authorized("mfa_enroll.json", access, {"password": PASSWORD})
        self.secret = json.loads(self.invoke("mfa", event, 200)[0]["body"])["secret"]
        code = factor.totp_code(self.secret, factor.time_step(time.time()))
        self.invoke("mfa", self.authorized("mfa_confirm.json", access, {"code": code}), 200)

    def timing(self, rounds: int) -> None:
        """Whole handler calls, interleaved (the order alternating): a password login;
        an MFA login's two steps, and the verify alone."""
        times: dict[str, list[float]] = {"password": [], "mfa": [], "verify": [], "beyond": []}
        enabled = gc.isenabled()
        try:
            for index in range(-1, rounds):  # one warm-up round, not counted
                order = ["password", "mfa"] if index % 2 else ["mfa", "password"]
                for kind in order:
                    code = self.code() if kind == "mfa" else ""
                    verify_started = 0.0
                    gc.disable()
                    started = time.perf_counter()
                    if kind == "password":
                        self.login(EMAIL)
                    else:
                        token = self.mfa_token()
                        verify_started = time.perf_counter()
                        _, call = self.verify(token, code=code)
                    elapsed = time.perf_counter() - started
                    if enabled:
                        gc.enable()
                    if index >= 0:
                        times[kind].append(elapsed)
                        if kind == "mfa":
                            times["verify"].append(time.perf_counter() - verify_started)
                            times["beyond"].append(call.elapsed - call.dynamodb)
        finally:
            if enabled:
                gc.enable()
        floor, whole, verify = (median(times[k]) for k in ("password", "mfa", "verify"))
        ratio = whole / floor
        self.rows.append(
            Row(
                SECTION,
                "MFA login answer time (login + verify) / password login",
                ratio,
                f"{ratio:.2f}x ({ms(whole)}; floor {ms(floor)})",
                budget=f"≤ {TIME_RATIO_BUDGET:.2f}x",
                passed=ratio <= TIME_RATIO_BUDGET,
                note=(
                    f"medians of {rounds} interleaved rounds (whole handler calls under "
                    "moto, argon2 included; the verify with a TOTP code)"
                ),
                data=times,
            )
        )
        self.rows.append(
            Row(
                SECTION,
                "verify answer time / password login",
                verify / floor,
                f"{verify / floor:.2f}x ({ms(verify)}; floor {ms(floor)})",
                note="the second step alone, same rounds: no password hash",
            )
        )
        beyond = median(times["beyond"])
        self.rows.append(
            Row(
                SECTION,
                "verify handler time beyond DynamoDB",
                beyond,
                ms(beyond),
                budget=f"≤ {VERIFY_BEYOND_DYNAMODB_BUDGET * 1e3:.0f} ms",
                passed=beyond <= VERIFY_BEYOND_DYNAMODB_BUDGET,
                note=(
                    "same rounds: the whole verify call minus the time from before-send to "
                    "before-parse of its DynamoDB requests (moto standing in), as login's "
                    "beyond-the-hash figure: the mfa_token's check, the code, the tokens"
                ),
            )
        )
