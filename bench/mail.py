"""The email flows: DynamoDB and SQS round trips per call, the mailer's per job, and
signup's answer time for a new against a taken email.

The handlers run as in bench/dynamo.py (functions/<name>/app.py imported by path, inside
moto with the template's tables and queues and the SES identity of EMAIL_FROM:
tests.support.aws.moto_stack), counted by the same botocore hooks on boto3's default
session (``before-send.dynamodb`` and ``before-send.sqs``). The mailer is run on the
queued jobs one message at a time (the SQS event its event source mapping would build),
so that its round trips are counted per job; the links it mails are read back from the
stack's SES recorder.

Signup's answer time: the whole handler call for a new email and for a taken (verified)
one, interleaved in one run (the order alternating each round), the garbage collector
paused; the figure is median(new) / median(taken). Both paths hash the password, make
one conditional write and queue one job, so the ratio stays near 1; a path that skipped
the hash or a write would move it far out of 0.8-1.25.
"""

from __future__ import annotations

import base64
import gc
import json
import time
from contextlib import redirect_stdout
from typing import Any

from bench.common import Row, median, ms
from bench.dynamo import _DEVNULL, Call, DynamoMeter, handlers_in_moto
from tests.support.events import (
    load_event,
    with_json_body,
    with_link_token,
    with_refresh_token_in_body,
)
from tests.support.handlers import LambdaContext, Stack

SECTION = "email"
MAILER = "mailer"
PASSWORD = "correct horse battery staple"
# (DynamoDB round trips at most, SQS SendMessage exactly) per call.
BUDGETS: dict[str, tuple[int, int]] = {
    "signup": (2, 1),  # the conditional put (ReturnValues ALL_OLD) and one job, new or taken
    "verify": (2, 0),  # find the link, use it (one transaction)
    "forgot": (1, 1),  # expected 0 + 1: the mailer looks the account up, not the request
    "reset": (3, 1),  # find the link, the transaction; then the notice's job
}
SIGNUP_RATIO_RANGE = (0.8, 1.25)
HANDLERS = ("signup", "verify_email", "password_reset", MAILER)


def run_optional() -> list[Row]:
    """Under EMAIL_VERIFICATION=optional: what a refresh costs when the account's claims
    moved on since login (the email verified meanwhile). The rotation checks the account
    in its transaction; claims that differ cost one read and a second rotation."""
    meter = DynamoMeter()
    names = ("signup", "login", "refresh", "verify_email", MAILER)
    with handlers_in_moto(
        names, module_prefix="bench_optional_handler", meter=meter, EMAIL_VERIFICATION="optional"
    ) as (aws, handlers):
        stack = Stack(handlers, aws.dynamodb, aws.tables, aws.issuer, aws)
        bench = MailBench(stack, meter)
        bench.invoke("signup", load_event("signup_ok.json"), 202)
        reply, _ = bench.invoke("login", load_event("login_body_delivery.json"), 200)
        token = json.loads(reply["body"])["refresh_token"]
        reply, call = bench.invoke(
            "refresh", with_refresh_token_in_body("refresh_body.json", token), 200
        )
        bench.count("refresh round trips, optional mode, claims unchanged", call)
        bench.drain_uncounted()
        link = stack.link_token("ann@example.com", "verify_email")
        bench.invoke("verify_email", with_link_token("verify_email.json", link), 200)
        token = json.loads(reply["body"])["refresh_token"]
        reply, call = bench.invoke(
            "refresh", with_refresh_token_in_body("refresh_body.json", token), 200
        )
        if not _claims(json.loads(reply["body"])["access_token"])["email_verified"]:
            raise RuntimeError("the refresh after the verification still says unverified")
        bench.count("refresh round trips, optional mode, first after a verification", call)
    return bench.rows


def _claims(access_token: str) -> dict[str, Any]:
    payload = access_token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def run(*, timing_rounds: int = 15) -> list[Row]:
    meter = DynamoMeter()
    with handlers_in_moto(HANDLERS, module_prefix="bench_mail_handler", meter=meter) as (
        aws,
        handlers,
    ):
        stack = Stack(handlers, aws.dynamodb, aws.tables, aws.issuer, aws)
        bench = MailBench(stack, meter)
        rows = bench.round_trips()
        rows += bench.signup_timing(timing_rounds)
    return rows + run_optional()


class MailBench:
    def __init__(self, stack: Stack, meter: DynamoMeter) -> None:
        self.stack = stack
        self.meter = meter
        self.rows: list[Row] = []

    # -- calls -------------------------------------------------------------------------

    def invoke(self, name: str, event: dict[str, Any], status: int | None) -> tuple[Any, Call]:
        context = LambdaContext(function_name=name)
        with redirect_stdout(_DEVNULL), self.meter.measure() as call:
            reply = self.stack.handlers[name].lambda_handler(event, context)
        if status is not None and reply.get("statusCode") != status:
            raise RuntimeError(f"{name}: expected {status}, got {reply}")
        return reply, call

    def count(self, figure: str, call: Call, budget: str | None = None) -> None:
        """A row of round trips; ``budget`` one of BUDGETS' keys, else informational."""
        dynamodb, sqs = len(call.operations), len(call.sqs_operations)
        shown = f"{dynamodb} ({', '.join(call.operations) or 'none'})"
        if sqs or budget:
            shown += f" + SQS {sqs} ({', '.join(call.sqs_operations) or 'none'})"
        if budget is None:
            self.rows.append(Row(SECTION, figure, float(dynamodb), shown))
            return
        most, enqueues = BUDGETS[budget]
        self.rows.append(
            Row(
                SECTION,
                figure,
                float(dynamodb),
                shown,
                budget=f"≤ {most} + SQS {enqueues}",
                passed=dynamodb <= most and sqs == enqueues,
                data={"dynamodb": call.operations, "sqs": call.sqs_operations},
            )
        )

    def run_mailer(self, what: str) -> None:
        """Every queued job, one SQS event each, each counted as a row."""
        sqs, url = self.stack.aws.sqs, self.stack.aws.queues["MailQueue"]
        while True:
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                return
            (message,) = messages
            reply, call = self.invoke(MAILER, self.stack.mail_event(messages), None)
            if reply.get("batchItemFailures"):
                raise RuntimeError(f"the mailer failed a job ({what}): {reply}")
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            self.count(f"mailer round trips, {what}", call)

    def sign_up(self, email: str, password: str = PASSWORD) -> tuple[Any, Call]:
        event = with_json_body("signup_ok.json", {"email": email, "password": password})
        return self.invoke("signup", event, 202)

    # -- the figures -------------------------------------------------------------------

    def round_trips(self) -> list[Row]:
        stack = self.stack
        ann = "ann@example.com"  # the events' account (Ann@Example.com)
        _, call = self.invoke("signup", load_event("signup_ok.json"), 202)
        self.count("signup round trips, new email", call, "signup")
        self.run_mailer("verify_email job (the signup's link)")
        link = stack.link_token(ann, "verify_email")

        event = with_link_token("verify_email.json", link)
        _, call = self.invoke("verify_email", event, 200)
        self.count("verify-email round trips, valid link", call, "verify")
        _, call = self.invoke("verify_email", event, 400)
        self.count("verify-email round trips, used link (400)", call)

        _, call = self.invoke("signup", load_event("signup_ok.json"), 202)
        self.count("signup round trips, taken email", call, "signup")
        self.run_mailer("signup_attempt job (the notice)")

        pending = "pending@example.com"
        self.sign_up(pending)
        self.run_mailer("verify_email job (another signup's link)")
        _, call = self.sign_up(pending, "a second signup's passphrase")
        self.count("signup round trips, replacing a never-verified account", call, "signup")
        self.run_mailer("verify_email job (the replacement's link)")

        _, call = self.invoke("verify_email", load_event("verify_email_resend.json"), 202)
        self.count("resend round trips (any email)", call)
        self.run_mailer("verify_email_resend job, already verified (skipped)")

        _, call = self.invoke("password_reset", load_event("password_forgot.json"), 202)
        self.count("forgot round trips, known email", call, "forgot")
        self.run_mailer("reset_password job (the link)")
        event = with_json_body("password_forgot.json", {"email": "nobody@example.com"})
        _, call = self.invoke("password_reset", event, 202)
        self.count("forgot round trips, unknown email", call, "forgot")
        self.run_mailer("reset_password job, unknown email (skipped)")

        reset_link = stack.link_token(ann, "reset_password")
        weak = with_link_token("password_reset_weak.json", reset_link)
        _, call = self.invoke("password_reset", weak, 400)
        self.count("reset round trips, weak new password (400, link kept)", call)
        event = with_link_token("password_reset.json", reset_link)
        _, call = self.invoke("password_reset", event, 204)
        self.count("reset round trips, valid link", call, "reset")
        self.run_mailer("password_changed job (the notice)")

        # Over MAX_EMAILS_PER_HOUR: the forgot answers alike, the mailer sends nothing.
        limit = int(stack.handlers[MAILER].settings.max_emails_per_hour)
        for _ in range(limit):
            self.invoke("password_reset", load_event("password_forgot.json"), 202)
        self.drain_uncounted()
        _, call = self.invoke("password_reset", load_event("password_forgot.json"), 202)
        self.count("forgot round trips, rate-limited email", call, "forgot")
        self.run_mailer("reset_password job over the hourly limit (suppressed)")
        return self.rows

    def drain_uncounted(self) -> None:
        with redirect_stdout(_DEVNULL):
            self.stack.run_mailer()

    def signup_timing(self, rounds: int) -> list[Row]:
        taken = "ann@example.com"  # verified above
        times: dict[str, list[float]] = {"new": [], "taken": []}
        enabled = gc.isenabled()
        gc.disable()
        try:
            for index in range(-1, rounds):  # one warm-up round, not counted
                order = ["new", "taken"] if index % 2 else ["taken", "new"]
                for kind in order:
                    email = f"new-{index + 1}@example.com" if kind == "new" else taken
                    started = time.perf_counter()
                    self.sign_up(email)
                    elapsed = time.perf_counter() - started
                    if index >= 0:
                        times[kind].append(elapsed)
        finally:
            if enabled:
                gc.enable()
        self.drain_uncounted()
        new, taken_time = median(times["new"]), median(times["taken"])
        ratio = new / taken_time
        low, high = SIGNUP_RATIO_RANGE
        return [
            Row(
                SECTION,
                "signup answer time, new / taken email",
                ratio,
                f"{ratio:.2f}x ({ms(new)} / {ms(taken_time)})",
                budget=f"{low}-{high}x",
                passed=low <= ratio <= high,
                note=(
                    f"medians of {rounds} interleaved signups each (whole handler call, "
                    "argon2 included); new: a fresh email, taken: a verified account"
                ),
                data=times,
            )
        ]
