"""The email flows' handlers driven by events/ (verify_email, password_reset) and the mailer
over the moto MailQueue and SES v2, as Lambda's event source mapping runs it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stateless_auth.domain.mail import MailJob, MailKind
from tests.support.events import body, error_of, load_event, with_json_body, with_link_token
from tests.support.handlers import Stack
from tests.support.mail import EXPECTED_SUBJECTS
from tests.support.settings import APP_URL, EMAIL_FROM

pytestmark = pytest.mark.xdist_group("handlers")
ANN = "ann@example.com"  # the address of events/*.json
PASSWORD = "correct horse battery staple"  # events/signup_ok.json's and login_ok.json's
NEW = "a new and long enough passphrase"  # events/password_reset.json's
EVIL = {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}


def subjects(stack: Stack, address: str) -> list[str]:
    return [mail.subject.split(": ", 1)[1] for mail in stack.mails_to(address)]


def user_item(stack: Stack, email: str) -> dict[str, Any]:
    item: dict[str, Any] = stack.dynamodb.get_item(
        TableName=stack.tables["UsersTable"], Key={"pk": {"S": f"EMAIL#{email}"}}
    )["Item"]
    return item


def enqueue(stack: Stack, text: str) -> None:
    stack.aws.sqs.send_message(QueueUrl=stack.aws.queues["MailQueue"], MessageBody=text)


def login(stack: Stack, email: str, password: str) -> dict[str, Any]:
    return stack.invoke(
        "login", with_json_body("login_ok.json", {"email": email, "password": password})
    )


def cross_site(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    event = with_json_body(name, payload)
    event["headers"] = {**event["headers"], **EVIL}
    return event


# --- verification ------------------------------------------------------------------------


def test_signup_mails_a_link_that_verifies_once_and_then_logs_in(stack: Stack) -> None:
    email = "verify@example.com"
    stack.sign_up(email, PASSWORD)
    assert error_of(login(stack, email, PASSWORD)) == (403, "email_not_verified")
    assert error_of(login(stack, email, "a wrong but long password")) == (
        401,
        "invalid_credentials",
    )
    assert stack.run_mailer() == [{"batchItemFailures": []}]
    (mail,) = stack.mails_to(email)
    assert mail.sender == EMAIL_FROM
    assert mail.subject == "Stateless Auth: verify your email"
    assert f"{APP_URL}/verify-email#token=" in mail.text
    token = stack.link_token(email, "verify_email")
    reply = stack.invoke("verify_email", with_link_token("verify_email.json", token))
    assert reply["statusCode"] == 200
    verified = body(reply)
    assert verified == {
        "user_id": user_item(stack, email)["user_id"]["S"],
        "email": email,
        "email_verified": True,
    }
    assert "ttl" not in user_item(stack, email)  # no longer expires
    again = stack.invoke("verify_email", with_link_token("verify_email.json", token))
    assert error_of(again) == (400, "invalid_token")
    assert login(stack, email, PASSWORD)["statusCode"] == 200


@pytest.mark.parametrize("token", ["garbage", "A" * 43, "A" * 200])
def test_a_bad_link_is_400_invalid_token(stack: Stack, token: str) -> None:
    reply = stack.invoke("verify_email", with_json_body("verify_email.json", {"token": token}))
    assert error_of(reply) == (400, "invalid_token")


def test_resend_answers_202_for_every_email_and_mails_only_the_unverified(stack: Stack) -> None:
    stack.sign_up("resend@example.com", PASSWORD)
    stack.run_mailer()
    first = stack.link_token("resend@example.com", "verify_email")
    replies = [
        stack.invoke("verify_email", with_json_body("verify_email_resend.json", {"email": email}))
        for email in ("Resend@Example.com", "nobody-resend@example.com")
    ]
    assert [(r["statusCode"], body(r)) for r in replies] == [(202, {}), (202, {})]
    assert replies[0]["headers"] == replies[1]["headers"]
    stack.run_mailer()
    assert stack.mails_to("nobody-resend@example.com") == []
    assert subjects(stack, "resend@example.com") == ["verify your email", "verify your email"]
    newest = stack.link_token("resend@example.com", "verify_email")
    stale = stack.invoke("verify_email", with_link_token("verify_email.json", first))
    assert error_of(stale) == (400, "invalid_token")
    assert (
        stack.invoke("verify_email", with_link_token("verify_email.json", newest))["statusCode"]
        == 200
    )


def test_the_resend_event_queues_one_job_without_secrets(stack: Stack) -> None:
    before = stack.waiting()
    reply = stack.invoke("verify_email", load_event("verify_email_resend.json"))
    assert (reply["statusCode"], body(reply)) == (202, {})
    assert stack.waiting() == before + 1
    (message,) = stack.aws.sqs.receive_message(
        QueueUrl=stack.aws.queues["MailQueue"], MaxNumberOfMessages=10
    )["Messages"][-1:]
    job = json.loads(message["Body"])
    assert set(job) == {"kind", "email", "job_id"}
    assert (job["kind"], job["email"]) == ("verify_email_resend", ANN)
    stack.aws.sqs.delete_message(
        QueueUrl=stack.aws.queues["MailQueue"], ReceiptHandle=message["ReceiptHandle"]
    )


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("verify_email.json", {"token": "A" * 43}),
        ("verify_email_resend.json", {"email": ANN}),
        ("password_forgot.json", {"email": ANN}),
        ("password_reset.json", {"token": "A" * 43, "password": NEW}),
    ],
)
def test_the_new_routes_refuse_cross_site_calls_and_queue_nothing(
    stack: Stack, name: str, payload: dict[str, Any]
) -> None:
    handler = "verify_email" if name.startswith("verify") else "password_reset"
    before = stack.waiting()
    assert error_of(stack.invoke(handler, cross_site(name, payload))) == (403, "cross_site_request")
    assert stack.waiting() == before


# --- forgotten passwords -------------------------------------------------------------------


def test_forgot_then_reset_with_the_events(stack: Stack) -> None:
    stack.sign_up_verified("Ann@Example.com", PASSWORD)
    session = body(
        stack.invoke("login", load_event("login_body_delivery.json"))
    )  # ended by the reset
    known = stack.invoke("password_reset", load_event("password_forgot.json"))
    unknown = stack.invoke(
        "password_reset", with_json_body("password_forgot.json", {"email": "nobody@example.com"})
    )
    assert (known["statusCode"], body(known)) == (unknown["statusCode"], body(unknown)) == (202, {})
    assert known["headers"] == unknown["headers"]
    stack.run_mailer()
    assert stack.mails_to("nobody@example.com") == []
    assert subjects(stack, ANN)[-1] == "reset your password"
    token = stack.link_token(ANN, "reset_password")
    weak = stack.invoke("password_reset", with_link_token("password_reset_weak.json", token))
    assert error_of(weak) == (400, "weak_password")
    reply = stack.invoke("password_reset", with_link_token("password_reset.json", token))
    assert (reply["statusCode"], reply["body"]) == (204, "")
    assert "cookies" not in reply  # nobody is logged in
    again = stack.invoke("password_reset", with_link_token("password_reset.json", token))
    assert error_of(again) == (400, "invalid_token")
    refresh = with_json_body("refresh_body.json", {"refresh_token": session["refresh_token"]})
    assert error_of(stack.invoke("refresh", refresh)) == (401, "invalid_token")
    assert error_of(stack.invoke("login", load_event("login_ok.json"))) == (
        401,
        "invalid_credentials",
    )
    assert login(stack, ANN, NEW)["statusCode"] == 200
    stack.run_mailer()
    assert subjects(stack, ANN)[-1] == "your password was changed"


# --- the mailer ------------------------------------------------------------------------------


def test_the_mailer_sends_the_right_mail_for_each_kind(stack: Stack) -> None:
    email = "kinds@example.com"
    stack.sign_up(email, PASSWORD)
    stack.run_mailer()
    password_set_id = user_item(stack, email)["password_set_id"]["S"]
    for kind in MailKind:
        enqueue(stack, MailJob(kind, email, password_set_id=password_set_id).to_json())
    replies = stack.run_mailer()
    assert all(reply == {"batchItemFailures": []} for reply in replies)
    got = subjects(stack, email)[1:]
    assert sorted(got) == sorted(EXPECTED_SUBJECTS.values())
    for mail in stack.mails_to(email):
        assert mail.sender == EMAIL_FROM
        assert mail.to == [email]
        assert "?token" not in mail.text
        assert "Stateless Auth" in mail.text


def test_the_mailer_event_file_is_one_job(stack: Stack) -> None:
    stack.sign_up("ann-event@example.com", PASSWORD)  # not the event's address: it is Ann's
    reply = stack.invoke("mailer", load_event("mailer_sqs.json"))
    assert reply == {"batchItemFailures": []}
    stack.run_mailer()


def test_a_failing_send_is_reported_retried_and_finally_dead_lettered(stack: Stack) -> None:
    email = "failing@example.com"
    stack.run_mailer()  # what earlier tests left
    stack.sign_up(email, PASSWORD)
    stack.aws.mail.failing = "TooManyRequestsException"
    try:
        (reply,) = stack.run_mailer()
        (failure,) = reply["batchItemFailures"]
        assert failure["itemIdentifier"]
        assert stack.mails_to(email) == []
        assert stack.waiting() == 1  # still on the queue, for a retry
    finally:
        stack.aws.mail.failing = None
    assert stack.run_mailer() == [{"batchItemFailures": []}]  # the retry
    assert subjects(stack, email) == ["verify your email"]
    assert stack.waiting() == 0
    # a send that keeps failing lands in the dead-letter queue after maxReceiveCount (5)
    stack.invoke("password_reset", with_json_body("password_forgot.json", {"email": email}))
    stack.aws.mail.failing = "MessageRejected"
    try:
        for _ in range(6):
            stack.run_mailer()
    finally:
        stack.aws.mail.failing = None
    assert stack.waiting() == 0
    assert stack.waiting("MailDeadLetterQueue") == 1
    assert subjects(stack, email) == ["verify your email"]


def test_mail_beyond_the_hourly_limit_is_suppressed(stack: Stack) -> None:
    email = "limit@example.com"
    stack.sign_up_verified(email, PASSWORD)  # one of the five
    limit = stack.handlers["mailer"].settings.max_emails_per_hour
    assert limit == 5
    for _ in range(limit + 2):
        forgot = with_json_body("password_forgot.json", {"email": email})
        assert stack.invoke("password_reset", forgot)["statusCode"] == 202
    replies = stack.run_mailer()
    assert all(reply == {"batchItemFailures": []} for reply in replies)
    assert subjects(stack, email) == ["verify your email"] + ["reset your password"] * (limit - 1)
    # the last mail sent holds the newest link: the suppressed ones issued none
    token = stack.link_token(email, "reset_password")
    reset = with_json_body("password_reset.json", {"token": token, "password": NEW})
    assert stack.invoke("password_reset", reset)["statusCode"] == 204
    stack.run_mailer()  # the notice is never limited
    assert subjects(stack, email)[-1] == "your password was changed"


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        json.dumps({"kind": "phishing", "email": ANN, "job_id": "j1"}),
        json.dumps({"kind": "reset_password", "job_id": "j2"}),
    ],
)
def test_a_malformed_job_is_dropped_not_retried(stack: Stack, text: str) -> None:
    sent = len(stack.aws.mail.sent)
    enqueue(stack, text)
    assert stack.run_mailer() == [{"batchItemFailures": []}]
    assert stack.waiting() == 0
    assert stack.waiting("MailDeadLetterQueue") <= 1  # only the failing test's
    assert len(stack.aws.mail.sent) == sent
