"""No secret reaches a log line; each security event leaves one log line and one metric."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.events import body, cookie_token, load_event, with_bearer, with_refresh_cookie
from tests.support.handlers import Stack

pytestmark = pytest.mark.xdist_group("handlers")
PASSWORD = "a hygiene test passphrase 42"
WRONG = "definitely the wrong passphrase"


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


def login_event(email: str, password: str, delivery: str = "cookie") -> dict[str, Any]:
    event = load_event("login_ok.json")
    event["body"] = json.dumps(
        {"email": email, "password": password, "refresh_token_delivery": delivery}
    )
    return event


def test_whole_flow_logs_no_secrets_and_one_line_per_security_event(
    stack: Stack, logs: Collect, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets: list[str] = [PASSWORD, WRONG]
    signup = load_event("signup_ok.json")
    signup["body"] = json.dumps({"email": "hygiene@example.com", "password": PASSWORD})
    assert stack.invoke("signup", signup)["statusCode"] == 201
    item = stack.dynamodb.get_item(
        TableName=stack.tables["UsersTable"], Key={"pk": {"S": "EMAIL#hygiene@example.com"}}
    )["Item"]
    secrets.append(item["password_hash"]["S"])

    cookie_login = stack.invoke("login", login_event("hygiene@example.com", PASSWORD))
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

    body_login = body(stack.invoke("login", login_event("hygiene@example.com", PASSWORD, "body")))
    secrets += [body_login["refresh_token"], body_login["access_token"]]
    stack.invoke("logout", with_refresh_cookie("logout_cookie.json", body_login["refresh_token"]))

    logs.lines.clear()
    for _ in range(5):
        assert stack.invoke("login", login_event("hygiene@example.com", WRONG))["statusCode"] == 401
    failed = [line for line in logs.lines if '"login failed"' in line]
    assert len(failed) == 5
    assert json.loads(failed[-1])["lockout_started"] is True
    logs.lines.clear()
    locked = stack.invoke("login", login_event("hygiene@example.com", PASSWORD))
    assert locked["statusCode"] == 429
    assert 1 <= int(locked["headers"]["Retry-After"]) <= 300
    assert len([line for line in logs.lines if "locked out" in line]) == 1

    output = capsys.readouterr().out  # the EMF metrics Powertools prints
    everything = "\n".join(logs.lines) + "\n" + output
    for secret in secrets:
        assert secret not in everything
    for needle in ("Bearer ", "__Host-refresh_token=", "password_hash", '"password"'):
        assert needle not in everything
    metrics = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    names = [
        m
        for doc in metrics
        for m in doc
        if m in {"LoginFailed", "LoginLockedOut", "RefreshTokenReuse", "LockoutStarted"}
    ]
    assert names.count("LoginFailed") == 5
    assert names.count("LockoutStarted") == 1
    assert names.count("LoginLockedOut") == 1
    assert names.count("RefreshTokenReuse") == 1
