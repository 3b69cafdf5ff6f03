"""The mail pipeline in the local API, over real HTTP: a route enqueues a job, the queue's
poller hands it to the toy mailer after a short delay, the mailer sends through SES v2
(moto), and ``/_localapi/mail`` shows what was sent. Batch failures, exceptions and
redelivery, the dead-letter queue, the mailbox's filter and its cross-site refusal."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from localapi.server import DEFAULT_EMAIL_FROM, LocalApi
from tests.support.http_client import Client
from tests.support.paths import LOCALAPI_FIXTURES as FIXTURES

MAIL_TEMPLATE = FIXTURES / "mail.yaml"
DEAD_LETTER_QUEUE = "stateless-auth-local-dead-letters"


@dataclass
class Running:
    api: LocalApi
    client: Client
    log: io.StringIO
    job_log: Path

    def enqueue(self, **job: Any) -> str:
        reply = self.client.call("POST", "/jobs", job)
        assert reply.status == 202, reply.raw
        return str(reply.json()["message_id"])

    def mail(self, query: str = "", **headers: str) -> Any:
        return self.client.send("GET", f"/_localapi/mail{query}", headers=headers)

    def invocations(self) -> list[dict[str, Any]]:
        if not self.job_log.exists():
            return []
        return [json.loads(line) for line in self.job_log.read_text().splitlines()]

    def received(self, message_id: str) -> list[int]:
        """The receive counts with which the mailer got ``message_id``."""
        return [
            int(record["attributes"]["ApproximateReceiveCount"])
            for call in self.invocations()
            for record in call["event"]["Records"]
            if record["messageId"] == message_id
        ]

    def dead_letters(self) -> list[str]:
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.get_queue_url(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"]
        # a peek: visible again at once
        reply = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return [message["MessageId"] for message in reply.get("Messages") or []]


def start(tmp_path: Path, environ: dict[str, str] | None = None) -> Running:
    job_log = tmp_path / "jobs.jsonl"
    log = io.StringIO()
    api = LocalApi(
        MAIL_TEMPLATE,
        port=0,
        log=log,
        process_environ={"JOB_LOG_FILE": str(job_log), **(environ or {})},
    ).start()
    return Running(api, Client(api.url), log, job_log)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    local = start(tmp_path)
    try:
        yield local
    finally:
        local.api.close()


def test_a_job_becomes_a_mail_in_the_mailbox_and_on_the_console(running: Running) -> None:
    text = (
        "Hello,\nverify: {APP_URL}/verify-email#token=tok-1 (valid a day).\n"
        "Docs: https://example.com/help?x=1.\nReset: {APP_URL}/reset-password#token=tok-2&a=b"
    )
    message_id = running.enqueue(to="Ann@Example.com", subject="Verify", text=text)
    assert running.api.wait_for_mail_jobs(10)
    reply = running.mail()
    assert reply.status == 200
    assert reply.headers["Cache-Control"] == "no-store"
    [mail] = reply.json()["messages"]
    app_url = f"{running.api.url}/demo"
    assert set(mail) == {"id", "to", "subject", "text", "sent_at", "links", "tokens"}
    assert mail["to"] == "Ann@Example.com"
    assert mail["subject"] == "Verify"
    assert mail["text"] == text.replace("{APP_URL}", app_url)
    assert mail["sent_at"].endswith("Z")
    assert mail["links"] == [
        f"{app_url}/verify-email#token=tok-1",
        "https://example.com/help?x=1",
        f"{app_url}/reset-password#token=tok-2&a=b",
    ]
    assert mail["tokens"] == ["tok-1", "tok-2"]
    assert running.received(message_id) == [1]
    console = running.log.getvalue()
    assert f"mail {mail['id']} to Ann@Example.com: 'Verify'" in console
    assert "verify-email#token=tok-1" in console  # the whole text, a development convenience


def test_over_http_a_test_can_wait_until_the_jobs_are_handled(running: Running) -> None:
    running.enqueue(to="ann@example.com", text="soon")
    reply = running.client.send("GET", "/_localapi/mail-jobs?wait=10")
    assert (reply.status, reply.json()) == (200, {"drained": True})
    assert [m["text"] for m in running.mail().json()["messages"]] == ["soon"]
    running.enqueue(to="ann@example.com", text="not yet")
    assert running.client.send("GET", "/_localapi/mail-jobs").json() == {"drained": False}
    for wait in ("-1", "61", "soon"):
        assert running.client.send("GET", f"/_localapi/mail-jobs?wait={wait}").status == 400
    refused = running.client.send(
        "GET", "/_localapi/mail-jobs", headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert refused.status == 403


def test_the_mailbox_filters_by_normalised_recipient_and_empties(running: Running) -> None:
    running.enqueue(to="ann@example.com", text="one")
    running.enqueue(to="bob@example.com", text="two")
    running.enqueue(to="  ANN@EXAMPLE.COM", text="three")
    assert running.api.wait_for_mail_jobs(10)
    assert len(running.mail().json()["messages"]) == 3
    for query in ("?to=ann@example.com", "?to=Ann%40Example.COM", "?to=%20ann@example.com%20"):
        texts = sorted(m["text"] for m in running.mail(query).json()["messages"])
        assert texts == ["one", "three"], query
    assert running.mail("?to=carol@example.com").json() == {"messages": []}
    refused = running.mail("?to=not-an-email")
    assert refused.status == 400
    assert refused.json()["error"] == "invalid_request"

    deleted = running.client.send("DELETE", "/_localapi/mail")
    assert deleted.status == 204
    assert running.mail().json() == {"messages": []}
    assert running.client.send("POST", "/_localapi/mail").status == 405


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Host": "evil.example"},
    ],
)
def test_the_mailbox_refuses_cross_site_calls(running: Running, headers: dict[str, str]) -> None:
    running.enqueue(to="ann@example.com", text="secret link")
    assert running.api.wait_for_mail_jobs(10)
    for method in ("GET", "DELETE"):
        reply = running.client.send(method, "/_localapi/mail", headers=headers)
        assert reply.status == 403, method
        assert reply.json()["error"] == "cross_site_request"
        assert b"secret link" not in reply.raw
    assert len(running.mail().json()["messages"]) == 1  # the refused DELETE changed nothing
    same_site = running.mail(Origin=running.api.url, **{"Sec-Fetch-Site": "same-origin"})
    assert same_site.status == 200


def test_a_reported_failure_is_retried_alone_then_dead_lettered(running: Running) -> None:
    kept = running.enqueue(to="ann@example.com", text="fine")
    failing = running.enqueue(to="bob@example.com", text="never", fail=True)
    assert running.api.wait_for_mail_jobs(10)
    assert [m["text"] for m in running.mail().json()["messages"]] == ["fine"]
    # VisibilityTimeout 1, maxReceiveCount 2: back once, then in the dead-letter queue
    deadline = time.monotonic() + 15
    while running.dead_letters() != [failing] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert running.dead_letters() == [failing]
    assert running.received(failing) == [1, 2]
    assert running.received(kept) == [1]  # deleted after its batch: never handed out again
    assert "ToyMailerFunction reported 1 of " in running.log.getvalue()


def test_an_exception_returns_the_whole_batch_which_comes_back(running: Running) -> None:
    message_id = running.enqueue(to="ann@example.com", text="second time lucky", raise_on=[1])
    deadline = time.monotonic() + 15
    while running.received(message_id) != [1, 2] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running.received(message_id) == [1, 2]
    assert running.api.wait_for_mail_jobs(10)
    assert [m["text"] for m in running.mail().json()["messages"]] == ["second time lucky"]
    console = running.log.getvalue()
    assert "ToyMailerFunction raised RuntimeError on a batch of 1 from JobQueue" in console
    assert "toy mailer failure" in console  # the traceback, as for a failed route
    assert running.dead_letters() == []


def test_a_send_ses_refuses_is_not_in_the_mailbox(running: Running) -> None:
    running.enqueue(to="ann@example.com", text="x", **{"from": "someone@else.example"})
    assert running.api.wait_for_mail_jobs(10)  # its retry is due later
    deadline = time.monotonic() + 5
    while not running.invocations() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running.invocations()
    assert running.mail().json() == {"messages": []}
    assert "MessageRejected" in running.log.getvalue()


def test_no_job_starts_before_it_is_a_moment_old(running: Running) -> None:
    for n in range(3):
        running.enqueue(to="ann@example.com", text=f"job {n}")
    assert running.api.wait_for_mail_jobs(10)
    calls = running.invocations()
    assert calls
    for call in calls:
        for record in call["event"]["Records"]:
            sent = int(record["attributes"]["SentTimestamp"]) / 1000
            assert call["invoked_at"] - sent >= 0.19
            assert record["eventSource"] == "aws:sqs"
            assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:JobQueue"
            assert record["messageAttributes"]["kind"]["stringValue"] == "toy"
    assert sum(len(call["event"]["Records"]) for call in calls) == 3


def test_a_delayed_job_is_due_later_and_then_sent(running: Running) -> None:
    running.enqueue(to="ann@example.com", text="later", delay=1)
    assert running.api.wait_for_mail_jobs(10)  # does not wait for what is due later
    deadline = time.monotonic() + 10
    while not running.mail().json()["messages"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [m["text"] for m in running.mail().json()["messages"]] == ["later"]


def test_start_up_lists_the_queues_and_the_mapping(running: Running) -> None:
    console = running.log.getvalue()
    assert "created JobQueue: https://sqs.us-east-1.amazonaws.com/123456789012/JobQueue" in console
    assert (
        "queue JobQueue -> ToyMailerFunction (ToyMailerEventSource; batch size 10, "
        "ReportBatchItemFailures)" in console
    )
    assert f"mail from {DEFAULT_EMAIL_FROM}; links to {running.api.url}/demo" in console


def test_email_from_and_app_url_come_from_the_environment(tmp_path: Path) -> None:
    local = start(tmp_path, {"EMAIL_FROM": "auth@example.com", "APP_URL": "https://app.test/"})
    try:
        mailer = local.api.functions["ToyMailerFunction"].handler
        assert mailer is not None
        assert mailer.__globals__["EMAIL_FROM"] == "auth@example.com"
        assert mailer.__globals__["APP_URL"] == "https://app.test"
        local.enqueue(to="ann@example.com", text="{APP_URL}/verify-email#token=t")
        assert local.api.wait_for_mail_jobs(10)
        [mail] = local.mail().json()["messages"]
        assert mail["links"] == ["https://app.test/verify-email#token=t"]
    finally:
        local.api.close()
    assert not local.api.pollers


def test_default_sender_is_an_address_the_service_accepts() -> None:
    from stateless_auth.domain.emails import normalise_email

    assert normalise_email(DEFAULT_EMAIL_FROM) == DEFAULT_EMAIL_FROM
