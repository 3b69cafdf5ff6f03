"""The routes under test: how to set each one up, call it, and check what it left.

A ``Scenario`` prepares its state with every call going through (the injector
disarmed), then its request is made once with one call failing. ``check`` then reads the
tables from moto for the invariants, and ``retry`` makes the same request again with
nothing failing: what the fault left must let it succeed (a 503 changed nothing that
matters), and a one-time token or a refresh token must then be spent exactly once.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.faults.harness import (
    Call,
    account,
    failures,
    password_verifies,
    session_violations,
)
from tests.support.events import (
    body,
    error_of,
    with_json_body,
    with_link_token,
    with_refresh_cookie,
    with_refresh_token_in_body,
)
from tests.support.handlers import Stack

PASSWORD = "a faults test passphrase"
OTHER_PASSWORD = "another faults test passphrase"
_counter = itertools.count()


def new_email(tag: str) -> str:
    return f"{tag}-{next(_counter)}-{uuid.uuid4().hex[:8]}@faults.example.com"


@dataclass
class Ctx:
    """One check's state: the account, what the request presents, what it read before."""

    email: str = ""
    password: str = PASSWORD
    new_password: str = OTHER_PASSWORD
    user_id: str = ""
    token: str = ""  # a refresh or link token
    access: str = ""  # an access token
    session_id: str = ""
    failures_before: int = 0
    code_failures_before: int = 0  # the account's wrong second-factor codes
    message: dict[str, Any] = field(default_factory=dict)  # an SQS message (the mailer)


def expect(reply: dict[str, Any], status: int, code: str | None = None) -> None:
    assert reply["statusCode"] == status, reply
    if code is not None:
        assert error_of(reply) == (status, code), reply


def expect_unavailable(reply: dict[str, Any]) -> None:
    """503 temporarily_unavailable with a Retry-After in seconds."""
    expect(reply, 503, "temporarily_unavailable")
    assert int(reply["headers"]["Retry-After"]) > 0, reply


@dataclass(frozen=True)
class Scenario:
    name: str  # the route (or the mailer)
    # The AWS calls a clean run makes, in order (test_call_sites records them).
    calls: tuple[str, ...]
    prepare: Callable[[Stack], Ctx]
    request: Callable[[Stack, Ctx], dict[str, Any]]
    # Checks a faulted request's reply and the tables after it; given the failed call.
    check: Callable[[Stack, Ctx, dict[str, Any], Call], str]
    retry: Callable[[Stack, Ctx, Call], None]
    # Calls after the state change committed, and the documented answer there: by call
    # (``"sqs.SendMessage"``), or by its index where one operation comes twice
    # (``"2:dynamodb.UpdateItem"``, the third call).
    after_commit: dict[str, int] = field(default_factory=dict)
    # What a clean run's success leaves for the next check's bookkeeping.
    succeeded: Callable[[Ctx], None] = lambda ctx: None
    clean_status: int = 0  # a clean run's answer; 0: any success

    def documented(self, index: int) -> int:
        """The answer documented when the ``index``-th call fails (503 unless listed)."""
        call = self.calls[index]
        return self.after_commit.get(f"{index}:{call}", self.after_commit.get(call, 503))

    def clean_run(self, stack: Stack, ctx: Ctx) -> None:
        """The request with nothing failing: a success (the mailer: no failed record)."""
        reply = self.request(stack, ctx)
        if self.clean_status:
            expect(reply, self.clean_status)
        elif "statusCode" in reply:
            assert reply["statusCode"] < 300, reply
        else:
            assert not reply.get("batchItemFailures"), reply
        self.succeeded(ctx)


# --- shared preparation ---------------------------------------------------------------

_verified: dict[tuple[int, str], Ctx] = {}


def verified_user(stack: Stack, tag: str) -> Ctx:
    """One verified account per stack and tag, made once (its password may change)."""
    key = (id(stack), tag)
    if key not in _verified:
        email = new_email(tag)
        user = stack.sign_up_verified(email, PASSWORD)
        _verified[key] = Ctx(email=user["email"], user_id=user["user_id"])
    return _verified[key]


def fresh_verified(stack: Stack, tag: str) -> Ctx:
    user = stack.sign_up_verified(new_email(tag), PASSWORD)
    return Ctx(email=user["email"], user_id=user["user_id"])


def logged_in(stack: Stack, ctx: Ctx) -> Ctx:
    grant = stack.log_in(ctx.email, ctx.password)
    ctx.token, ctx.access = grant["refresh_token"], grant["access_token"]
    context = stack.authorizer_context(ctx.access)
    ctx.session_id = str(context.get("session_id") or context.get("sid") or "")
    return ctx


def invariants(stack: Stack, ctx: Ctx, *, failed_login: bool = False) -> str:
    """The invariants every check ends with; the failure counter's where the request
    counted one (or reserved it)."""
    if ctx.user_id:
        problems = session_violations(stack, ctx.email, ctx.user_id)
        assert not problems, problems
    if ctx.email and account(stack, ctx.email) is not None:
        assert password_verifies(stack, ctx.email, ctx.password, ctx.new_password), (
            "an account without a verifiable password"
        )
    if failed_login:
        assert failures(stack, ctx.email) >= ctx.failures_before, "the failure count decreased"
    return "sessions one current token; password verifies" + (
        "; failures not decreased" if failed_login else ""
    )


# --- signup, verification -------------------------------------------------------------


def _signup(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    return stack.invoke(
        "signup", with_json_body("signup_ok.json", {"email": ctx.email, "password": ctx.password})
    )


def _check_signup(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    expect_unavailable(reply)
    item = account(stack, ctx.email)
    if call.service == "dynamodb":
        assert item is None, "an account written by a failed signup"
    invariants(stack, ctx)
    return "no account, or one whose password verifies (signing up again replaces it)"


def _retry_signup(stack: Stack, ctx: Ctx, call: Call) -> None:
    expect(_signup(stack, ctx), 202)
    assert password_verifies(stack, ctx.email, ctx.password) == [ctx.password]


def _check_signup_taken(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    expect_unavailable(reply)
    assert password_verifies(stack, ctx.email, PASSWORD, OTHER_PASSWORD) == [PASSWORD]
    return "the existing account and its password untouched"


def _prepare_signup_taken(stack: Stack) -> Ctx:
    owner = verified_user(stack, "taken")
    return Ctx(email=owner.email, password=OTHER_PASSWORD, new_password=OTHER_PASSWORD)


def _prepare_unverified(stack: Stack) -> Ctx:
    ctx = Ctx(email=new_email("verify"))
    expect(_signup(stack, ctx), 202)
    stack.run_mailer()
    ctx.token = stack.link_token(ctx.email, "verify_email")
    return ctx


def _verify(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    return stack.invoke("verify_email", with_link_token("verify_email.json", ctx.token))


def _check_verify(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    expect_unavailable(reply)
    item = account(stack, ctx.email)
    assert item is not None
    assert not item["email_verified"]["BOOL"], "verified by a 503"
    invariants(stack, ctx)
    return "not verified; the link unused"


def _retry_verify(stack: Stack, ctx: Ctx, call: Call) -> None:
    expect(_verify(stack, ctx), 200)
    expect(_verify(stack, ctx), 400, "invalid_token")  # used once


def _resend(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    return stack.invoke(
        "verify_email", with_json_body("verify_email_resend.json", {"email": ctx.email})
    )


def _check_queued_only(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    expect_unavailable(reply)
    return "nothing written (the job is all it does)"


# --- login ----------------------------------------------------------------------------


def _prepare_login(stack: Stack) -> Ctx:
    ctx = verified_user(stack, "login")
    ctx.failures_before = failures(stack, ctx.email)
    return ctx


def _login(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    payload = {"email": ctx.email, "password": ctx.password, "refresh_token_delivery": "body"}
    return stack.invoke("login", with_json_body("login_ok.json", payload))


def _check_login(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    expect_unavailable(reply)
    return invariants(stack, ctx, failed_login=True) + "; no session opened half-way"


def _retry_login(stack: Stack, ctx: Ctx, call: Call) -> None:
    expect(_login(stack, ctx), 200)
    assert failures(stack, ctx.email) == 0


def _prepare_bad_password(stack: Stack) -> Ctx:
    ctx = verified_user(stack, "badpw")
    stack.dynamodb.delete_item(
        TableName=stack.tables["UsersTable"], Key={"pk": {"S": f"FAILED#{ctx.email}"}}
    )
    # Two failures already counted: the fault must not lose them.
    for _ in range(2):
        expect(_bad_login(stack, ctx), 401, "invalid_credentials")
    ctx.failures_before = failures(stack, ctx.email)
    assert ctx.failures_before == 2
    return ctx


def _bad_login(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    payload = {"email": ctx.email, "password": "not the password at all"}
    return stack.invoke("login", with_json_body("login_bad_password.json", payload))


def _retry_bad_login(stack: Stack, ctx: Ctx, call: Call) -> None:
    expect(_bad_login(stack, ctx), 401, "invalid_credentials")
    assert failures(stack, ctx.email) > ctx.failures_before


# --- refresh, logout ------------------------------------------------------------------


def _session_of(tag: str) -> Callable[[Stack], Ctx]:
    """A new session of the tag's account (one account per scenario: fewer to scan)."""

    def prepare(stack: Stack) -> Ctx:
        return logged_in(stack, Ctx(**vars(verified_user(stack, tag))))

    return prepare


def _refresh(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    return stack.invoke("refresh", with_refresh_token_in_body("refresh_body.json", ctx.token))


def _check_refresh(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    expect_unavailable(reply)
    invariants(stack, ctx)
    return "one current refresh token, the presented one (not rotated)"


def _retry_refresh(stack: Stack, ctx: Ctx, call: Call) -> None:
    reply = _refresh(stack, ctx)
    expect(reply, 200)
    assert body(reply)["refresh_token"] != ctx.token
    expect(_refresh(stack, ctx), 401, "invalid_token")  # rotated once: a replay now
    invariants(stack, ctx)


def _prepare_replay(stack: Stack) -> Ctx:
    ctx = _session_of("replay")(stack)
    expect(_refresh(stack, ctx), 200)  # ctx.token is now a used one
    return ctx


def _check_replay(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    expect_unavailable(reply)
    invariants(stack, ctx)
    return "the session still at one current token (revoked by the retry)"


def _retry_replay(stack: Stack, ctx: Ctx, call: Call) -> None:
    expect(_refresh(stack, ctx), 401, "invalid_token")
    assert stack.aws.dynamodb.get_item(
        TableName=stack.tables["SessionsTable"],
        Key={"pk": {"S": f"SESSION#{ctx.session_id}"}},
        ConsistentRead=True,
    )["Item"].get("revoked_at"), "a replay must revoke the session"


def _logout(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    return stack.invoke("logout", with_refresh_cookie("logout_cookie.json", ctx.token))


def _check_session_kept(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    expect_unavailable(reply)
    invariants(stack, ctx)
    return "the session whole: listed with one current token, or ended"


def _retry_logout(stack: Stack, ctx: Ctx, call: Call) -> None:
    expect(_logout(stack, ctx), 204)
    expect(_refresh(stack, ctx), 401, "invalid_token")


# --- password reset and change --------------------------------------------------------


def _prepare_reset(stack: Stack) -> Ctx:
    ctx = verified_user(stack, "reset")
    # The address's hourly mail limit would suppress the links after a few checks.
    stack.dynamodb.delete_item(
        TableName=stack.tables["UsersTable"], Key={"pk": {"S": f"MAILS#{ctx.email}"}}
    )
    forgot = with_json_body("password_forgot.json", {"email": ctx.email})
    expect(stack.invoke("password_reset", forgot), 202)
    stack.run_mailer()
    ctx.token = stack.link_token(ctx.email, "reset_password")
    ctx.failures_before = failures(stack, ctx.email)
    return ctx


def _reset(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    payload = {"token": ctx.token, "password": ctx.new_password}
    return stack.invoke("password_reset", with_json_body("password_reset.json", payload))


def _swap(ctx: Ctx) -> None:
    ctx.password, ctx.new_password = ctx.new_password, ctx.password


def _check_reset(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    if call.service == "sqs":  # the notice, after the reset committed
        expect(reply, 204)
        assert password_verifies(stack, ctx.email, ctx.password, ctx.new_password) == [
            ctx.new_password
        ]
        _swap(ctx)
        invariants(stack, ctx)
        return "reset done (204), only the notice lost; the link spent"
    expect_unavailable(reply)
    verifies = password_verifies(stack, ctx.email, ctx.password, ctx.new_password)
    assert verifies == [ctx.password], (verifies, account(stack, ctx.email))
    invariants(stack, ctx)
    return "the old password, the link unused"


def _retry_reset(stack: Stack, ctx: Ctx, call: Call) -> None:
    if call.service != "sqs":
        expect(_reset(stack, ctx), 204)
        _swap(ctx)
    expect(_reset(stack, ctx), 400, "invalid_token")  # used once
    verifies = password_verifies(stack, ctx.email, ctx.password, ctx.new_password)
    assert verifies == [ctx.password], (verifies, ctx, call)


def _prepare_change(stack: Stack) -> Ctx:
    ctx = verified_user(stack, "change")
    if not ctx.access:
        logged_in(stack, ctx)
    ctx.failures_before = failures(stack, ctx.email)
    return ctx


def _change(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    payload = {"current_password": ctx.password, "new_password": ctx.new_password}
    return stack.call("account", "password_change.json", ctx.access, payload=payload)


def _check_change(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    if call.service == "sqs":
        expect(reply, 204)
        assert password_verifies(stack, ctx.email, ctx.password, ctx.new_password) == [
            ctx.new_password
        ]
        _swap(ctx)
        invariants(stack, ctx)
        return "changed (204), only the notice lost"
    expect_unavailable(reply)
    assert password_verifies(stack, ctx.email, ctx.password, ctx.new_password) == [ctx.password]
    return invariants(stack, ctx, failed_login=True) + "; the old password"


def _retry_change(stack: Stack, ctx: Ctx, call: Call) -> None:
    if call.service != "sqs":
        expect(_change(stack, ctx), 204)
        _swap(ctx)
    assert failures(stack, ctx.email) == 0
    invariants(stack, ctx)


def _prepare_delete(stack: Stack) -> Ctx:
    ctx = logged_in(stack, fresh_verified(stack, "delete"))
    ctx.failures_before = failures(stack, ctx.email)
    return ctx


def _delete(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    return stack.call("account", "account_delete.json", ctx.access, payload={"password": PASSWORD})


def _check_delete(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    if call.service == "sqs":
        expect(reply, 204)
        assert account(stack, ctx.email) is None
        return "deleted (204), only the notice lost"
    expect_unavailable(reply)
    assert account(stack, ctx.email) is not None, "deleted by a 503"
    return invariants(stack, ctx, failed_login=True) + "; the account whole"


def _retry_delete(stack: Stack, ctx: Ctx, call: Call) -> None:
    if call.service != "sqs":
        expect(_delete(stack, ctx), 204)
    assert account(stack, ctx.email) is None
    expect(_refresh(stack, ctx), 401, "invalid_token")


# --- sessions -------------------------------------------------------------------------


def _two_sessions(tag: str) -> Callable[[Stack], Ctx]:
    """Two new sessions of the tag's account: the caller's and another (in ``message``)."""

    def prepare(stack: Stack) -> Ctx:
        ctx = _session_of(tag)(stack)
        other = _session_of(tag)(stack)
        ctx.message = {"other_token": other.token, "other_session": other.session_id}
        return ctx

    return prepare


def _list(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    return stack.call("sessions", "sessions_list.json", ctx.access)


def _retry_list(stack: Stack, ctx: Ctx, call: Call) -> None:
    reply = _list(stack, ctx)
    expect(reply, 200)
    assert any(s["current"] for s in body(reply)["sessions"])


def _end_one(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    return stack.call(
        "sessions", "sessions_delete.json", ctx.access, session_id=ctx.message["other_session"]
    )


def _retry_end_one(stack: Stack, ctx: Ctx, call: Call) -> None:
    expect(_end_one(stack, ctx), 204)
    expect(_end_one(stack, ctx), 404, "not_found")
    other = Ctx(**{**vars(ctx), "token": ctx.message["other_token"]})
    expect(_refresh(stack, other), 401, "invalid_token")
    invariants(stack, ctx)


def _logout_all(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    return stack.call("sessions", "logout_all.json", ctx.access)


def _retry_logout_all(stack: Stack, ctx: Ctx, call: Call) -> None:
    expect(_refresh(stack, Ctx(**{**vars(ctx), "token": ctx.message["other_token"]})), 200)
    expect(_logout_all(stack, ctx), 204)
    expect(_refresh(stack, ctx), 401, "invalid_token")
    invariants(stack, ctx)


# --- the mailer -----------------------------------------------------------------------


def _prepare_mail_job(stack: Stack) -> Ctx:
    stack.run_mailer()  # nothing else queued
    ctx = Ctx(email=new_email("mailer"))
    expect(_signup(stack, ctx), 202)
    (message,) = stack.aws.sqs.receive_message(
        QueueUrl=stack.aws.queues["MailQueue"], MaxNumberOfMessages=10, AttributeNames=["All"]
    )["Messages"]
    ctx.message = message
    return ctx


def _mailer(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    return stack.invoke("mailer", stack.mail_event([ctx.message]))


def _check_mailer(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    failed = [item["itemIdentifier"] for item in reply.get("batchItemFailures", [])]
    assert failed == [ctx.message["MessageId"]], f"the job was dropped: {reply}"
    assert not stack.mails_to(ctx.email), "a mail sent by a failed job"
    return "the record failed (SQS retries it), not dropped; no mail"


def _retry_mailer(stack: Stack, ctx: Ctx, call: Call) -> None:
    reply = _mailer(stack, ctx)
    assert not reply.get("batchItemFailures"), reply
    stack.aws.sqs.delete_message(
        QueueUrl=stack.aws.queues["MailQueue"], ReceiptHandle=ctx.message["ReceiptHandle"]
    )
    assert len(stack.mails_to(ctx.email)) == 1
    ctx.token = stack.link_token(ctx.email, "verify_email")
    expect(_verify(stack, ctx), 200)  # the retried job's link works


SCENARIOS = (
    Scenario(
        "POST /auth/signup (new)",
        (
            "dynamodb.PutItem",
            "sqs.SendMessage",
        ),
        lambda stack: Ctx(email=new_email("signup")),
        _signup,
        _check_signup,
        _retry_signup,
    ),
    Scenario(
        "POST /auth/signup (taken)",
        (
            "dynamodb.PutItem",
            "sqs.SendMessage",
        ),
        _prepare_signup_taken,
        _signup,
        _check_signup_taken,
        lambda stack, ctx, call: expect(_signup(stack, ctx), 202),
    ),
    Scenario(
        "POST /auth/verify-email",
        (
            "dynamodb.GetItem",
            "dynamodb.TransactWriteItems",
        ),
        _prepare_unverified,
        _verify,
        _check_verify,
        _retry_verify,
    ),
    Scenario(
        "POST /auth/verify-email/resend",
        ("sqs.SendMessage",),
        lambda stack: Ctx(email=new_email("resend")),
        _resend,
        _check_queued_only,
        lambda stack, ctx, call: expect(_resend(stack, ctx), 202),
    ),
    Scenario(
        "POST /auth/login",
        (
            "dynamodb.BatchGetItem",
            "dynamodb.UpdateItem",
            "dynamodb.TransactWriteItems",
        ),
        _prepare_login,
        _login,
        _check_login,
        _retry_login,
    ),
    Scenario(
        "POST /auth/login (wrong password)",
        (
            "dynamodb.BatchGetItem",
            "dynamodb.UpdateItem",
        ),
        _prepare_bad_password,
        _bad_login,
        _check_login,
        _retry_bad_login,
        clean_status=401,
    ),
    Scenario(
        "POST /auth/refresh",
        (
            "dynamodb.GetItem",
            "dynamodb.TransactWriteItems",
        ),
        _session_of("refresh"),
        _refresh,
        _check_refresh,
        _retry_refresh,
    ),
    Scenario(
        "POST /auth/refresh (replayed token)",
        (
            "dynamodb.GetItem",
            "dynamodb.TransactWriteItems",
        ),
        _prepare_replay,
        _refresh,
        _check_replay,
        _retry_replay,
        clean_status=401,
    ),
    Scenario(
        "POST /auth/logout",
        (
            "dynamodb.GetItem",
            "dynamodb.TransactWriteItems",
        ),
        _session_of("logout"),
        _logout,
        _check_session_kept,
        _retry_logout,
    ),
    Scenario(
        "POST /auth/password/forgot",
        ("sqs.SendMessage",),
        lambda stack: Ctx(email=verified_user(stack, "forgot").email),
        lambda stack, ctx: stack.invoke(
            "password_reset", with_json_body("password_forgot.json", {"email": ctx.email})
        ),
        _check_queued_only,
        lambda stack, ctx, call: None,
    ),
    Scenario(
        "POST /auth/password/reset",
        (
            "dynamodb.GetItem",
            "dynamodb.TransactWriteItems",
            "sqs.SendMessage",
        ),
        _prepare_reset,
        _reset,
        _check_reset,
        _retry_reset,
        after_commit={"sqs.SendMessage": 204},
        succeeded=_swap,
    ),
    Scenario(
        "POST /auth/password/change",
        (
            "dynamodb.BatchGetItem",
            "dynamodb.UpdateItem",
            "dynamodb.TransactWriteItems",
            "sqs.SendMessage",
        ),
        _prepare_change,
        _change,
        _check_change,
        _retry_change,
        after_commit={"sqs.SendMessage": 204},
        succeeded=_swap,
    ),
    Scenario(
        "DELETE /me",
        (
            "dynamodb.BatchGetItem",
            "dynamodb.UpdateItem",
            "dynamodb.TransactWriteItems",
            "sqs.SendMessage",
        ),
        _prepare_delete,
        _delete,
        _check_delete,
        _retry_delete,
        after_commit={"sqs.SendMessage": 204},
    ),
    Scenario(
        "GET /auth/sessions",
        ("dynamodb.GetItem",),
        _session_of("list"),
        _list,
        _check_session_kept,
        _retry_list,
    ),
    Scenario(
        "DELETE /auth/sessions/{session_id}",
        ("dynamodb.TransactWriteItems",),
        _two_sessions("endone"),
        _end_one,
        _check_session_kept,
        _retry_end_one,
    ),
    Scenario(
        "POST /auth/logout-all",
        ("dynamodb.UpdateItem",),
        _two_sessions("logoutall"),
        _logout_all,
        _check_session_kept,
        _retry_logout_all,
    ),
    Scenario(
        "mailer (SQS job)",
        (
            "dynamodb.GetItem",
            "dynamodb.GetItem",
            "dynamodb.PutItem",
            "dynamodb.TransactWriteItems",
            "sesv2.SendEmail",
        ),
        _prepare_mail_job,
        _mailer,
        _check_mailer,
        _retry_mailer,
    ),
)
