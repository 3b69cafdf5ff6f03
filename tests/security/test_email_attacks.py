"""The email flows as an attacker sees them: what each protection holds, tried from the
outside (handlers driven by events/, over moto from the template) and, for the races, at
the repositories with a deterministic interleaving.

Only protections that hold are here. Findings that are real weaknesses are described in
the review's report, with their reproduction, not as failing tests.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from localapi.pages import PAGES
from localapi.server import cross_site_refusal, foreign_host
from stateless_auth.domain import passwords
from stateless_auth.domain.errors import InvalidCredentials, InvalidOneTimeToken, RefreshRejected
from stateless_auth.domain.one_time_tokens import Purpose, hash_one_time_token
from stateless_auth.domain.sessions import TokenRecord
from stateless_auth.storage.mail_log import MailLogRepository
from stateless_auth.storage.mail_queue import SqsMailQueue
from stateless_auth.storage.sessions import SessionRepository
from stateless_auth.storage.users import UserRepository
from stateless_auth.tokens.keys import KeySet
from stateless_auth.usecases.login import log_in
from stateless_auth.usecases.refresh import refresh
from stateless_auth.usecases.verify_email import find_link
from tests.support.events import (
    body,
    error_of,
    with_json_body,
    with_link_token,
    with_refresh_token_in_body,
)
from tests.support.handlers import Stack, stack_in_moto
from tests.support.local_mail import unique_address
from tests.support.settings import APP_URL, EMAIL_FROM, load_test_settings

pytestmark = pytest.mark.xdist_group("security-email")

FUNCTIONS = ("signup", "login", "refresh", "verify_email", "password_reset", "mailer")
OWNER = "the owner's own long passphrase"
ATTACKER = "an attacker chosen passphrase"
NEW = "a new and long enough passphrase"  # what events/password_reset.json sets
GONE_QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with stack_in_moto(FUNCTIONS) as stack:
        yield stack


def signup(stack: Stack, email: str, password: str) -> dict[str, Any]:
    return stack.invoke(
        "signup", with_json_body("signup_ok.json", {"email": email, "password": password})
    )


def login(stack: Stack, email: str, password: str, delivery: str = "cookie") -> dict[str, Any]:
    payload = {"email": email, "password": password, "refresh_token_delivery": delivery}
    return stack.invoke("login", with_json_body("login_ok.json", payload))


def forgot(stack: Stack, email: str) -> dict[str, Any]:
    return stack.invoke("password_reset", with_json_body("password_forgot.json", {"email": email}))


def resend(stack: Stack, email: str) -> dict[str, Any]:
    return stack.invoke(
        "verify_email", with_json_body("verify_email_resend.json", {"email": email})
    )


def reset(stack: Stack, token: str, password: str = NEW) -> dict[str, Any]:
    event = with_link_token("password_reset.json", token)
    event["body"] = json.dumps({"token": token, "password": password})
    return stack.invoke("password_reset", event)


def verify(stack: Stack, token: str) -> dict[str, Any]:
    return stack.invoke("verify_email", with_link_token("verify_email.json", token))


def reset_token(stack: Stack, email: str) -> str:
    assert forgot(stack, email)["statusCode"] == 202
    stack.run_mailer()
    return stack.link_token(email, "reset_password")


def answer(reply: dict[str, Any]) -> tuple[Any, ...]:
    """What a caller sees of a reply: status, headers, cookies, body."""
    return (
        reply["statusCode"],
        tuple(sorted((reply.get("headers") or {}).items())),
        tuple(reply.get("cookies") or ()),
        reply.get("body"),
    )


def queued(stack: Stack) -> list[dict[str, Any]]:
    """The bodies of the jobs waiting in MailQueue (received, then made visible again)."""
    sqs, url = stack.aws.sqs, stack.aws.queues["MailQueue"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return [json.loads(message["Body"]) for message in messages]


def users_repo(stack: Stack) -> UserRepository:
    return UserRepository(stack.dynamodb, stack.tables["UsersTable"])


def sessions_repo(stack: Stack) -> SessionRepository:
    return SessionRepository(
        stack.dynamodb, stack.tables["SessionsTable"], users_table=stack.tables["UsersTable"]
    )


def settings_of(stack: Stack) -> Any:
    return load_test_settings(
        APP_URL=APP_URL,
        EMAIL_FROM=EMAIL_FROM,
        USERS_TABLE=stack.tables["UsersTable"],
        SESSIONS_TABLE=stack.tables["SessionsTable"],
    )


def scan_text(stack: Stack) -> str:
    """Every item of both tables, as text."""
    text = []
    for table in stack.tables.values():
        text.append(json.dumps(stack.dynamodb.scan(TableName=table)["Items"]))
    return "\n".join(text)


# --- enumeration: the answers ----------------------------------------------------------


def test_signup_answers_alike_for_new_taken_and_replaced_and_queues_no_secret(
    stack: Stack,
) -> None:
    taken, pending, fresh = (
        unique_address("taken"),
        unique_address("pending"),
        unique_address("fresh"),
    )
    stack.run_mailer()  # what earlier tests left
    stack.sign_up_verified(taken, OWNER)
    assert signup(stack, pending, OWNER)["statusCode"] == 202
    stack.run_mailer()
    replies = {
        name: signup(stack, email, ATTACKER)
        for name, email in {"taken": taken, "pending": pending, "fresh": fresh}.items()
    }
    shapes = {name: answer(reply) for name, reply in replies.items()}
    for name, email in {"taken": taken, "pending": pending, "fresh": fresh}.items():
        assert body(replies[name]) == {"email": email}
        assert shapes[name][:3] == shapes["fresh"][:3]
    jobs = queued(stack)
    assert len(jobs) == 3
    for job in jobs:
        assert set(job) <= {"kind", "email", "job_id", "password_set_id"}
        assert ATTACKER not in json.dumps(job)
        assert "argon2" not in json.dumps(job)
    stack.run_mailer()


def test_forgot_and_resend_answer_alike_for_every_account_state(stack: Stack) -> None:
    verified, pending, unknown, limited = (unique_address(x) for x in ("v", "p", "u", "l"))
    stack.sign_up_verified(verified, OWNER)
    stack.sign_up_verified(limited, OWNER)
    signup(stack, pending, OWNER)
    for _ in range(6):
        forgot(stack, limited)
        resend(stack, limited)
    stack.run_mailer()
    for route in (forgot, resend):
        shapes = {answer(route(stack, email)) for email in (verified, pending, unknown, limited)}
        assert len(shapes) == 1
        ((status, _, _, text),) = shapes
        assert (status, text) == (202, "{}")
    stack.run_mailer()


def test_login_without_the_password_says_401_for_unverified_as_for_unknown(stack: Stack) -> None:
    pending, unknown = unique_address("pending"), unique_address("unknown")
    signup(stack, pending, OWNER)
    wrong = "a wrong but long passphrase"
    assert answer(login(stack, pending, wrong))[::3] == answer(login(stack, unknown, wrong))[::3]
    assert error_of(login(stack, pending, wrong)) == (401, "invalid_credentials")
    stack.run_mailer()


# --- the replacement rule --------------------------------------------------------------


def test_an_earlier_signups_link_never_verifies_a_later_password(stack: Stack) -> None:
    email = unique_address("replaced")
    signup(stack, email, OWNER)
    stack.run_mailer()
    first = stack.link_token(email, "verify_email")
    signup(stack, email, ATTACKER)  # replaces the never-verified account
    assert error_of(verify(stack, first)) == (400, "invalid_token")
    # A job queued for the first signup but run after the replacement sends nothing.
    before = len(stack.mails_to(email))
    signup(stack, email, OWNER)
    signup(stack, email, ATTACKER)
    stack.run_mailer()
    # Three jobs were queued (ATTACKER, OWNER, ATTACKER): the two superseded are skipped.
    assert len(stack.mails_to(email)) == before + 1
    token = stack.link_token(email, "verify_email")
    assert verify(stack, token)["statusCode"] == 200
    assert error_of(login(stack, email, OWNER)) == (401, "invalid_credentials")


def test_a_verified_account_or_one_verified_by_a_reset_is_never_replaced(stack: Stack) -> None:
    verified, reset_one = unique_address("verified"), unique_address("reset")
    stack.sign_up_verified(verified, OWNER)
    signup(stack, reset_one, OWNER)
    stack.run_mailer()
    assert reset(stack, reset_token(stack, reset_one))["statusCode"] == 204
    for email, password in ((verified, OWNER), (reset_one, NEW)):
        user_id = users_repo(stack).get_by_email(email)
        signup(stack, email, ATTACKER)
        assert users_repo(stack).get_by_email(email) == user_id
        assert login(stack, email, password)["statusCode"] == 200
        assert error_of(login(stack, email, ATTACKER)) == (401, "invalid_credentials")
    stack.run_mailer()


def test_an_old_account_without_the_new_attributes_is_not_replaceable(stack: Stack) -> None:
    email = unique_address("legacy")
    table = stack.tables["UsersTable"]
    stack.dynamodb.put_item(  # as version 1 wrote it: no ttl, no password id, no epoch
        TableName=table,
        Item={
            "pk": {"S": f"EMAIL#{email}"},
            "user_id": {"S": "legacy-user"},
            "email": {"S": email},
            "password_hash": {"S": passwords.hash_password(OWNER)},
            "roles": {"L": [{"S": "user"}]},
            "created_at": {"N": "1"},
            "email_verified": {"BOOL": False},
        },
    )
    signup(stack, email, ATTACKER)
    user = users_repo(stack).get_by_email(email)
    assert user is not None
    assert user.user_id == "legacy-user"
    stack.run_mailer()  # the owner gets the signup-attempt notice; a reset still works
    assert reset(stack, reset_token(stack, email))["statusCode"] == 204
    assert login(stack, email, NEW)["statusCode"] == 200


# --- one-time tokens --------------------------------------------------------------------


def test_links_are_fragments_never_stored_or_queued_in_clear(stack: Stack) -> None:
    email = unique_address("clear")
    signup(stack, email, OWNER)
    jobs_text = json.dumps(queued(stack))
    stack.run_mailer()
    token = stack.link_token(email, "verify_email")
    (mail,) = stack.mails_to(email)
    assert f"{APP_URL}/verify-email#token={token}" in mail.text
    assert "?" not in mail.text.split("#token=")[0].rsplit(" ", 1)[-1]
    reset_link = reset_token(stack, email)
    stored = scan_text(stack)
    for secret in (token, reset_link):
        assert len(secret) >= 43  # 256 bits, URL-safe base64
        assert secret not in stored
        assert secret not in jobs_text
        assert hash_one_time_token(secret) in stored  # only the hash


def test_reset_links_are_newest_only_single_use_and_end_every_other_link(stack: Stack) -> None:
    email = unique_address("links")
    signup(stack, email, OWNER)
    stack.run_mailer()
    verify_link = stack.link_token(email, "verify_email")
    first = reset_token(stack, email)
    second = reset_token(stack, email)
    assert error_of(reset(stack, first)) == (400, "invalid_token")  # superseded
    assert error_of(reset(stack, second, "short")) == (400, "weak_password")
    assert reset(stack, second)["statusCode"] == 204  # a weak try left it usable
    assert error_of(reset(stack, second, "yet another long passphrase")) == (400, "invalid_token")
    assert error_of(verify(stack, verify_link)) == (400, "invalid_token")  # ended by the reset
    assert error_of(reset(stack, verify_link)) == (400, "invalid_token")  # wrong purpose
    stack.run_mailer()
    assert stack.mails_to(email)[-1].subject.endswith("your password was changed")


def test_two_uses_of_one_link_at_once_only_one_wins(stack: Stack) -> None:
    email = unique_address("race")
    stack.sign_up_verified(email, OWNER)
    token = reset_token(stack, email)
    users = users_repo(stack)
    now = int(time.time())
    both = [find_link(token, Purpose.RESET_PASSWORD, users=users, now=now) for _ in range(2)]
    users.reset_password(
        both[0], password_hash=passwords.hash_password(NEW), password_set_id="a", now=now
    )
    with pytest.raises(InvalidOneTimeToken):
        users.reset_password(
            both[1], password_hash=passwords.hash_password(ATTACKER), password_set_id="b", now=now
        )
    assert login(stack, email, NEW)["statusCode"] == 200


def test_expiry_is_enforced_by_the_read_and_by_the_write(stack: Stack) -> None:
    email = unique_address("expiry")
    stack.sign_up_verified(email, OWNER)
    token = reset_token(stack, email)
    users = users_repo(stack)
    now = int(time.time())
    found = find_link(token, Purpose.RESET_PASSWORD, users=users, now=now)
    with pytest.raises(InvalidOneTimeToken):
        find_link(token, Purpose.RESET_PASSWORD, users=users, now=found.expires_at)
    with pytest.raises(InvalidOneTimeToken):  # read in time, written too late
        users.reset_password(found, password_hash="x", password_set_id="y", now=found.expires_at)
    assert login(stack, email, OWNER)["statusCode"] == 200


# --- the sessions epoch -----------------------------------------------------------------


def test_a_reset_ends_every_session_and_the_lock_out(stack: Stack) -> None:
    email = unique_address("sessions")
    stack.sign_up_verified(email, OWNER)
    refresh_tokens = [body(login(stack, email, OWNER, "body"))["refresh_token"] for _ in range(3)]
    for _ in range(5):
        login(stack, email, "a wrong but long passphrase")
    assert error_of(login(stack, email, OWNER))[0] == 429
    assert reset(stack, reset_token(stack, email))["statusCode"] == 204
    for token in refresh_tokens:
        reply = stack.invoke("refresh", with_refresh_token_in_body("refresh_body.json", token))
        assert error_of(reply) == (401, "invalid_token")
    assert login(stack, email, NEW)["statusCode"] == 200  # the lock-out ended


def test_an_item_without_an_epoch_still_has_its_sessions_ended(stack: Stack) -> None:
    email = unique_address("epochless")
    stack.sign_up_verified(email, OWNER)
    stack.dynamodb.update_item(
        TableName=stack.tables["UsersTable"],
        Key={"pk": {"S": f"EMAIL#{email}"}},
        UpdateExpression="REMOVE sessions_epoch",
    )
    token = body(login(stack, email, OWNER, "body"))["refresh_token"]
    assert reset(stack, reset_token(stack, email))["statusCode"] == 204  # ADD on a missing one
    reply = stack.invoke("refresh", with_refresh_token_in_body("refresh_body.json", token))
    assert error_of(reply) == (401, "invalid_token")


def test_a_refresh_racing_a_reset_never_outlives_it(stack: Stack) -> None:
    email = unique_address("refresh-race")
    stack.sign_up_verified(email, OWNER)
    token = body(login(stack, email, OWNER, "body"))["refresh_token"]
    link = reset_token(stack, email)

    class ResetAfterRead(SessionRepository):
        def find_token(self, token_hash: str) -> TokenRecord | None:
            record = super().find_token(token_hash)
            assert reset(stack, link)["statusCode"] == 204  # lands between read and rotate
            return record

    keys = KeySet.generate()
    racing = ResetAfterRead(
        stack.dynamodb, stack.tables["SessionsTable"], users_table=stack.tables["UsersTable"]
    )
    with pytest.raises(RefreshRejected):
        refresh(
            token,
            sessions=racing,
            users=users_repo(stack),
            signing_key=lambda: keys.current,
            issuer=stack.issuer,
            settings=settings_of(stack),
        )
    reply = stack.invoke("refresh", with_refresh_token_in_body("refresh_body.json", token))
    assert error_of(reply) == (401, "invalid_token")


def test_a_login_racing_a_reset_opens_no_session(stack: Stack) -> None:
    email = unique_address("login-race")
    stack.sign_up_verified(email, OWNER)
    link = reset_token(stack, email)

    class ResetAfterRead(UserRepository):
        def load_for_login(self, email: str) -> Any:
            loaded = super().load_for_login(email)
            assert reset(stack, link)["statusCode"] == 204  # lands after the read
            return loaded

    keys = KeySet.generate()
    with pytest.raises(InvalidCredentials):
        log_in(
            email,
            OWNER,
            users=ResetAfterRead(stack.dynamodb, stack.tables["UsersTable"]),
            sessions=sessions_repo(stack),
            signing_key=lambda: keys.current,
            issuer=stack.issuer,
            settings=settings_of(stack),
            unknown_email_hash=passwords.unusable_hash(),
        )
    assert error_of(login(stack, email, OWNER)) == (401, "invalid_credentials")
    assert login(stack, email, NEW)["statusCode"] == 200


# --- the mail limit ---------------------------------------------------------------------


def test_case_width_and_idna_variants_share_one_mail_budget(stack: Stack) -> None:
    local = f"ann{uuid.uuid4().hex[:6]}"
    ascii_form = f"{local}@xn--exmple-cua.com"  # what SES gets: the domain in Punycode
    signup(stack, f"{local}@exämple.com", OWNER)
    stack.run_mailer()
    assert verify(stack, stack.link_token(ascii_form, "verify_email"))["statusCode"] == 200
    before = len(stack.mails_to(ascii_form))
    variants = [
        f"{local}@xn--exmple-cua.com",
        f"{local.upper()}@XN--EXMPLE-CUA.COM",
        f"{local}@EXÄMPLE.com",
        f" {local}@exämple.com ",
        f"{local}＠ｅｘäｍｐｌｅ．ｃｏｍ",
        f"{local}@exämple。com",
        f"{local}@exa\u0308mple.com",  # decomposed a + combining diaeresis
    ]
    for variant in variants * 2:
        assert forgot(stack, variant)["statusCode"] == 202
    stack.run_mailer()
    # The signup's link was one of the hour's 5.
    assert len(stack.mails_to(ascii_form)) - before == 4
    assert {m.to[0] for m in stack.mails_to(ascii_form)} == {ascii_form}


def test_concurrent_mailers_cannot_both_take_the_last_slot(stack: Stack) -> None:
    log = MailLogRepository(stack.dynamodb, stack.tables["UsersTable"])
    email, now = unique_address("concurrent"), 1_000_000
    results: list[bool | None] = []
    barrier = threading.Barrier(12)

    def one(job: str) -> None:
        barrier.wait()
        try:
            results.append(log.reserve_send(email, job, now=now, limit=5))
        except RuntimeError:  # still contended: the job fails and SQS retries it
            results.append(None)

    threads = [threading.Thread(target=one, args=(f"job-{i}",)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    granted = results.count(True)
    assert granted <= 5
    assert log.reserve_send(email, "late", now=now, limit=5) is (granted < 5)


def test_a_retried_job_is_counted_once_and_its_unsent_link_is_dead(stack: Stack) -> None:
    email = unique_address("retry")
    stack.sign_up_verified(email, OWNER)
    stack.aws.mail.failing = "TooManyRequestsException"
    try:
        forgot(stack, email)
        for _ in range(3):
            assert stack.run_mailer()[0]["batchItemFailures"]
    finally:
        stack.aws.mail.failing = None
    stack.run_mailer()
    # 1 (verification) + 1 retried reset = 2 of 5: three more can go out.
    for _ in range(4):
        forgot(stack, email)
    stack.run_mailer()
    resets = [m for m in stack.mails_to(email) if "/reset-password#" in m.text]
    assert len(resets) == 4
    assert reset(stack, stack.link_token(email, "reset_password"))["statusCode"] == 204


# --- the mailer's input ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"kind": "reset_password"}',
        '{"kind": "nope", "email": "a@example.com", "job_id": "j"}',
        '{"kind": "reset_password", "email": 7, "job_id": "j"}',
        '{"kind": "reset_password", "email": "a@example.com", "job_id": ""}',
        '{"kind": "verify_email", "email": "a@example.com", "job_id": "j", "password_set_id": 1}',
        json.dumps({"kind": "reset_password", "email": "a" * 3000 + "@example.com", "job_id": "j"}),
        '{"kind": "reset_password", "email": "\\ud800@example.com", "job_id": "j"}',
        '{"kind": "reset_password", "email": "nobody@example.com", "job_id": "j"}',
    ],
)
def test_hostile_jobs_are_dropped_or_skipped_without_a_mail(stack: Stack, text: str) -> None:
    stack.run_mailer()  # what earlier tests left
    sent = len(stack.aws.mail.sent)
    stack.aws.sqs.send_message(QueueUrl=stack.aws.queues["MailQueue"], MessageBody=text)
    assert stack.run_mailer() == [{"batchItemFailures": []}]
    assert len(stack.aws.mail.sent) == sent


# --- a queue that fails -------------------------------------------------------------------


def test_with_the_queue_down_new_and_taken_answer_alike_and_signup_recovers(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken, fresh = unique_address("taken"), unique_address("fresh")
    stack.sign_up_verified(taken, OWNER)
    link = reset_token(stack, taken)
    gone = SqsMailQueue(stack.aws.sqs, GONE_QUEUE)
    for name in ("signup", "password_reset", "verify_email"):
        monkeypatch.setattr(stack.handlers[name], "mail", gone)
    down = [signup(stack, email, ATTACKER) for email in (taken, fresh)]
    assert answer(down[0]) == answer(down[1])
    assert error_of(down[0]) == (503, "temporarily_unavailable")
    assert answer(forgot(stack, taken)) == answer(forgot(stack, fresh))
    assert answer(resend(stack, taken)) == answer(resend(stack, fresh))
    assert reset(stack, link)["statusCode"] == 204  # changed, only the notice lost
    monkeypatch.undo()
    assert login(stack, taken, NEW)["statusCode"] == 200
    signup(stack, fresh, OWNER)  # replaces the half-made account
    stack.run_mailer()
    assert verify(stack, stack.link_token(fresh, "verify_email"))["statusCode"] == 200
    assert login(stack, fresh, OWNER)["statusCode"] == 200


# --- the local API's mailbox and pages ------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:3000",
        "127.0.0.1.evil.example:3000",
        "localhost.evil.example",
        "127.0.0.1:3000@evil.example",
        "localhost.:3000",
        "",
    ],
)
def test_the_local_tools_refuse_a_rebound_host(host: str) -> None:
    environ = {"HTTP_HOST": host}
    assert foreign_host(environ) is not None
    assert cross_site_refusal(environ) is not None


def test_the_mailbox_refuses_another_local_origin_and_cross_site_fetches() -> None:
    own = {"HTTP_HOST": "127.0.0.1:3000", "wsgi.url_scheme": "http"}
    assert cross_site_refusal(own) is None
    assert cross_site_refusal({**own, "HTTP_ORIGIN": "http://127.0.0.1:3000"}) is None
    assert cross_site_refusal({**own, "HTTP_ORIGIN": "http://localhost:8080"}) is not None
    assert cross_site_refusal({**own, "HTTP_ORIGIN": "null"}) is not None
    assert cross_site_refusal({**own, "HTTP_SEC_FETCH_SITE": "cross-site"}) is not None


def test_the_link_pages_allow_only_their_own_script_and_send_no_referrer() -> None:
    for page in PAGES.values():
        policy = page.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'sha256-" in policy
        assert "'unsafe-inline'" not in policy
        assert "form-action 'none'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "connect-src 'self'" in policy
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert page.headers["Cache-Control"] == "no-store"
        assert "history.replaceState" in page.body
        assert "location.hash" in page.body
        assert "location.search" not in page.body
