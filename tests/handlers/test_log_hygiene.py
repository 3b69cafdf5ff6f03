"""No secret reaches a log line; each security event leaves one log line and one metric."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from stateless_auth.domain.one_time_tokens import hash_one_time_token
from tests.support.events import (
    body,
    cookie_token,
    load_event,
    with_bearer,
    with_json_body,
    with_link_token,
    with_refresh_cookie,
)
from tests.support.handlers import Stack

pytestmark = pytest.mark.xdist_group("handlers")
PASSWORD = "a hygiene test passphrase 42"
WRONG = "definitely the wrong passphrase"
NEW_PASSWORD = "the hygiene test's new passphrase"
WEAK = "short"
EMAIL = "hygiene@example.com"


class Collect(logging.Handler):
    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__()
        self.lines: list[str] = []
        if formatter is not None:
            self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[Collect]:
    logger = logging.getLogger("stateless-auth")
    existing = logger.handlers[0].formatter if logger.handlers else None
    collect = Collect(existing)
    logger.addHandler(collect)
    yield collect
    logger.removeHandler(collect)


def user_secrets(stack: Stack) -> list[str]:
    """What the account item holds that must never be logged: its password hash and
    its link hashes."""
    item = stack.dynamodb.get_item(
        TableName=stack.tables["UsersTable"], Key={"pk": {"S": f"EMAIL#{EMAIL}"}}
    )["Item"]
    return [
        item[name]["S"]
        for name in ("password_hash", "verify_token_hash", "reset_token_hash")
        if name in item
    ]


def login_event(email: str, password: str, delivery: str = "cookie") -> dict[str, Any]:
    event = load_event("login_ok.json")
    event["body"] = json.dumps(
        {"email": email, "password": password, "refresh_token_delivery": delivery}
    )
    return event


def test_whole_flow_logs_no_secrets_and_one_line_per_security_event(
    stack: Stack, logs: Collect, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets: list[str] = [PASSWORD, WRONG, NEW_PASSWORD]
    signup = load_event("signup_ok.json")
    signup["body"] = json.dumps({"email": EMAIL, "password": PASSWORD})
    assert stack.invoke("signup", signup)["statusCode"] == 202
    secrets += user_secrets(stack)
    # the mailer: a verification link, then a resend (a second link)
    assert stack.run_mailer() == [{"batchItemFailures": []}]
    first_link = stack.link_token(EMAIL, "verify_email")
    resend = with_json_body("verify_email_resend.json", {"email": EMAIL})
    assert stack.invoke("verify_email", resend)["statusCode"] == 202
    stack.run_mailer()
    link = stack.link_token(EMAIL, "verify_email")
    secrets += [first_link, hash_one_time_token(first_link), link, hash_one_time_token(link)]
    secrets += user_secrets(stack)
    assert (
        stack.invoke("verify_email", with_link_token("verify_email.json", link))["statusCode"]
        == 200
    )
    stale = stack.invoke("verify_email", with_link_token("verify_email.json", first_link))
    assert stale["statusCode"] == 400
    kept = body(stack.invoke("login", login_event(EMAIL, PASSWORD, "body")))  # ended by the reset
    secrets += [kept["refresh_token"], kept["access_token"]]

    cookie_login = stack.invoke("login", login_event(EMAIL, PASSWORD))
    access = body(cookie_login)["access_token"]
    refresh = cookie_token(cookie_login)
    secrets += [access, refresh]
    assert stack.invoke("me", with_bearer("me.json", access))["statusCode"] == 200
    assert stack.invoke("authorizer", with_bearer("authorizer_valid.json", access))["isAuthorized"]

    rotated = stack.invoke("refresh", with_refresh_cookie("refresh_cookie.json", refresh))
    secrets += [cookie_token(rotated), body(rotated)["access_token"]]
    logs.lines.clear()
    reuse = stack.invoke("refresh", with_refresh_cookie("refresh_cookie.json", refresh))
    assert reuse["statusCode"] == 401
    reuse_lines = [line for line in logs.lines if "refresh refused" in line]
    assert len(reuse_lines) == 1
    assert json.loads(reuse_lines[0])["reason"] == "reuse"
    # every line carries the API Gateway request id as its correlation id
    request_id = load_event("refresh_cookie.json")["requestContext"]["requestId"]
    assert json.loads(reuse_lines[0])["correlation_id"] == request_id

    body_login = body(stack.invoke("login", login_event(EMAIL, PASSWORD, "body")))
    secrets += [body_login["refresh_token"], body_login["access_token"]]
    stack.invoke("logout", with_refresh_cookie("logout_cookie.json", body_login["refresh_token"]))

    logs.lines.clear()
    for _ in range(5):
        assert stack.invoke("login", login_event(EMAIL, WRONG))["statusCode"] == 401
    failed = [line for line in logs.lines if '"login failed"' in line]
    assert len(failed) == 5
    assert json.loads(failed[-1])["lockout_started"] is True
    logs.lines.clear()
    locked = stack.invoke("login", login_event(EMAIL, PASSWORD))
    assert locked["statusCode"] == 429
    assert 1 <= int(locked["headers"]["Retry-After"]) <= 300
    assert len([line for line in logs.lines if "locked out" in line]) == 1

    # a reset ends the lock-out and the sessions; a weak password first leaves the link
    forgot = with_json_body("password_forgot.json", {"email": EMAIL})
    assert stack.invoke("password_reset", forgot)["statusCode"] == 202
    stack.run_mailer()
    reset_link = stack.link_token(EMAIL, "reset_password")
    secrets += [reset_link, hash_one_time_token(reset_link)]
    weak = stack.invoke("password_reset", with_link_token("password_reset_weak.json", reset_link))
    assert weak["statusCode"] == 400
    logs.lines.clear()
    reset = with_json_body("password_reset.json", {"token": reset_link, "password": NEW_PASSWORD})
    assert stack.invoke("password_reset", reset)["statusCode"] == 204
    assert len([line for line in logs.lines if '"password reset"' in line]) == 1
    secrets += user_secrets(stack)
    stack.run_mailer()  # the "password changed" notice
    logs.lines.clear()
    ended = stack.invoke(
        "refresh", with_json_body("refresh_body.json", {"refresh_token": kept["refresh_token"]})
    )
    assert ended["statusCode"] == 401
    refused = [json.loads(line) for line in logs.lines if "refresh refused" in line]
    assert [line["reason"] for line in refused] == ["account_changed"]
    after = stack.invoke("login", login_event(EMAIL, NEW_PASSWORD, "body"))
    assert after["statusCode"] == 200
    secrets += [body(after)["refresh_token"], body(after)["access_token"]]

    mails = stack.mails_to(EMAIL)
    assert [mail.subject.split(": ", 1)[1] for mail in mails] == [
        "verify your email",
        "verify your email",
        "reset your password",
        "your password was changed",
    ]
    output = capsys.readouterr().out  # the EMF metrics Powertools prints
    everything = "\n".join(logs.lines) + "\n" + output
    for secret in secrets:
        assert secret not in everything
    for needle in (
        "Bearer ",
        "__Host-refresh_token=",
        "password_hash",
        '"password"',
        "#token=",
        "token_hash",
        "$argon2",
    ):
        assert needle not in everything
    metrics = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    names = [
        m
        for doc in metrics
        for m in doc
        if m
        in {
            "LoginFailed",
            "LoginLockedOut",
            "RefreshTokenReuse",
            "LockoutStarted",
            "EmailSent",
            "EmailVerified",
            "PasswordReset",
        }
    ]
    assert names.count("LoginFailed") == 5
    assert names.count("LockoutStarted") == 1
    assert names.count("LoginLockedOut") == 1
    assert names.count("RefreshTokenReuse") == 1
    assert names.count("EmailSent") == 4
    assert names.count("EmailVerified") == 1
    assert names.count("PasswordReset") == 1


SESSIONS_EMAIL = "hygiene-sessions@example.com"


def account_secrets(stack: Stack, email: str) -> list[str]:
    item = stack.dynamodb.get_item(
        TableName=stack.tables["UsersTable"], Key={"pk": {"S": f"EMAIL#{email}"}}
    ).get("Item", {})
    return [
        item[name]["S"]
        for name in ("password_hash", "verify_token_hash", "reset_token_hash")
        if name in item
    ]


def test_the_sessions_and_account_routes_log_no_secrets_and_one_line_per_event(
    stack: Stack, logs: Collect, capsys: pytest.CaptureFixture[str]
) -> None:
    """Listing, ending one, logout-all, a password change (weak, wrong, right) and the
    deletion (wrong, right): no password, hash or token in any line or metric."""
    stack.sign_up_verified(SESSIONS_EMAIL, PASSWORD)
    secrets: list[str] = [PASSWORD, WRONG, NEW_PASSWORD, *account_secrets(stack, SESSIONS_EMAIL)]
    grants = [stack.log_in(SESSIONS_EMAIL, PASSWORD, user_agent="hygiene-agent") for _ in range(3)]
    secrets += [token for g in grants for token in (g["access_token"], g["refresh_token"])]
    access = grants[0]["access_token"]
    # a pending reset link, which the change ends
    stack.invoke(
        "password_reset", with_json_body("password_forgot.json", {"email": SESSIONS_EMAIL})
    )
    stack.run_mailer()
    reset_link = stack.link_token(SESSIONS_EMAIL, "reset_password")
    secrets += [
        reset_link,
        hash_one_time_token(reset_link),
        *account_secrets(stack, SESSIONS_EMAIL),
    ]
    logs.lines.clear()

    assert stack.call("sessions", "sessions_list.json", access)["statusCode"] == 200
    other = str(stack.authorizer_context(grants[1]["access_token"])["sid"])
    ended = stack.call("sessions", "sessions_delete.json", access, session_id=other)
    assert ended["statusCode"] == 204
    assert len([line for line in logs.lines if '"session ended"' in line]) == 1

    change = "password_change.json"
    weak = {"current_password": PASSWORD, "new_password": WEAK}
    assert stack.call("account", change, access, payload=weak)["statusCode"] == 400
    logs.lines.clear()
    wrong = {"current_password": WRONG, "new_password": NEW_PASSWORD}
    assert stack.call("account", change, access, payload=wrong)["statusCode"] == 401
    assert len([line for line in logs.lines if "current password refused" in line]) == 1
    logs.lines.clear()
    right = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert stack.call("account", change, access, payload=right)["statusCode"] == 204
    assert len([line for line in logs.lines if '"password changed"' in line]) == 1
    secrets += account_secrets(stack, SESSIONS_EMAIL)  # the new hash
    stack.run_mailer()

    rotated = stack.invoke(
        "refresh",
        with_json_body("refresh_body.json", {"refresh_token": grants[0]["refresh_token"]}),
    )
    assert rotated["statusCode"] == 200
    secrets += [body(rotated)["refresh_token"], body(rotated)["access_token"]]
    logs.lines.clear()
    assert stack.call("sessions", "logout_all.json", access)["statusCode"] == 204
    assert len([line for line in logs.lines if '"every session ended"' in line]) == 1

    later = stack.log_in(SESSIONS_EMAIL, NEW_PASSWORD)
    secrets += [later["access_token"], later["refresh_token"]]
    delete = "account_delete.json"
    token = later["access_token"]
    assert stack.call("account", delete, token, payload={"password": WRONG})["statusCode"] == 401
    logs.lines.clear()
    deleted = stack.call("account", delete, token, payload={"password": NEW_PASSWORD})
    assert deleted["statusCode"] == 204
    assert len([line for line in logs.lines if '"account deleted"' in line]) == 1
    stack.run_mailer()

    output = capsys.readouterr().out
    everything = "\n".join(logs.lines) + "\n" + output
    for secret in secrets:
        assert secret not in everything
    for needle in (
        "Bearer ",
        "__Host-refresh_token=",
        "password_hash",
        '"password"',
        "current_password",
        "new_password",
        "#token=",
        "token_hash",
        "$argon2",
    ):
        assert needle not in everything
    metrics = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    names = [m for doc in metrics for m in doc]
    for name, count in {
        "SessionEnded": 1,
        "PasswordChanged": 1,
        "LogoutAll": 1,
        "AccountDeleted": 1,
        "LoginFailed": 2,  # the wrong current passwords
    }.items():
        assert names.count(name) == count, (name, names)
