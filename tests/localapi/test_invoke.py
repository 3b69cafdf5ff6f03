"""``python -m localapi invoke``: ``sam local invoke`` without Docker, as a subprocess, each
call in a fresh embedded stack (localapi/invoke.py). The return value alone on stdout as
JSON, the logs on stderr; the events' placeholders answer as their names say."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import EVENTS, ROOT

pytestmark = pytest.mark.xdist_group("localapi-invoke")


def invoke(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localapi", "invoke", *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def answer(*arguments: str) -> tuple[Any, str]:
    """stdout's one JSON value and stderr; asserts exit 0."""
    done = invoke(*arguments)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout  # nothing but the return value
    return json.loads(lines[0]), done.stderr


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_login_ok_logs_the_events_account_in() -> None:
    reply, logs = answer("LoginFunction", "-e", str(EVENTS / "login_ok.json"))
    assert reply["statusCode"] == 200
    body = json.loads(reply["body"])
    assert claims(body["access_token"])["email"] == "ann@example.com"
    assert body["expires_in"] == 900
    assert any(c.startswith("__Host-refresh_token=") for c in reply["cookies"])
    assert "login succeeded" in logs  # the function's own log line, on stderr


def test_login_with_a_wrong_password_is_refused() -> None:
    reply, _ = answer("LoginFunction", "-e", str(EVENTS / "login_bad_password.json"))
    assert reply["statusCode"] == 401


def test_authorizer_valid_gets_a_live_token() -> None:
    reply, _ = answer("AuthorizerFunction", "-e", str(EVENTS / "authorizer_valid.json"))
    assert reply["isAuthorized"] is True
    assert reply["context"]["email"] == "ann@example.com"
    assert reply["context"]["roles"] == ["user"]


def test_me_and_the_sessions_list_answer_for_the_minted_token() -> None:
    me, _ = answer("MeFunction", "-e", str(EVENTS / "me.json"))
    assert me["statusCode"] == 200
    assert json.loads(me["body"])["email_verified"] is True
    listed, _ = answer("SessionsFunction", "-e", str(EVENTS / "sessions_list.json"))
    assert listed["statusCode"] == 200
    sessions = json.loads(listed["body"])["sessions"]
    assert [s["current"] for s in sessions] == [True]


def test_parameter_overrides_and_env_vars_reach_the_function(tmp_path: Path) -> None:
    event = str(EVENTS / "login_ok.json")
    reply, _ = answer(
        "LoginFunction", "-e", event, "--parameter-overrides", "AccessTokenTtlSeconds=60"
    )
    assert json.loads(reply["body"])["expires_in"] == 60
    env = tmp_path / "env.json"
    env.write_text(json.dumps({"LoginFunction": {"ACCESS_TOKEN_TTL_SECONDS": "120"}}))
    reply, _ = answer("LoginFunction", "-e", event, "--env-vars", str(env))
    assert json.loads(reply["body"])["expires_in"] == 120
    env.write_text(json.dumps({"Parameters": {"ACCESS_TOKEN_TTL_SECONDS": "30"}}))
    reply, _ = answer("LoginFunction", "-e", event, "--env-vars", str(env))
    assert json.loads(reply["body"])["expires_in"] == 30


def body_of(reply: dict[str, Any]) -> Any:
    return json.loads(reply["body"]) if reply.get("body") else None


def test_mfa_enroll_and_confirm_get_an_account_in_the_state_they_need() -> None:
    enrolled, _ = answer("MfaFunction", "-e", str(EVENTS / "mfa_enroll.json"))
    assert enrolled["statusCode"] == 200, enrolled
    assert set(body_of(enrolled)) == {"secret", "otpauth_uri"}
    # confirm: an enrolment pending, and the code of the current step computed from it
    confirmed, logs = answer("MfaFunction", "-e", str(EVENTS / "mfa_confirm.json"))
    assert confirmed["statusCode"] == 200, confirmed
    assert len(body_of(confirmed)["recovery_codes"]) == 10
    assert "prepared: POST /auth/mfa/totp/enroll -> 200" in logs


@pytest.mark.parametrize(
    ("event", "amr"),
    [("mfa_verify.json", ["pwd", "otp"]), ("mfa_verify_recovery.json", ["pwd", "mfa"])],
)
def test_mfa_verify_finishes_a_login_of_an_account_with_mfa_on(event: str, amr: list[str]) -> None:
    reply, logs = answer("MfaVerifyFunction", "-e", str(EVENTS / event))
    assert reply["statusCode"] == 200, reply
    token_claims = claims(body_of(reply)["access_token"])
    assert (token_claims["email"], token_claims["amr"], token_claims["acr"]) == (
        "ann@example.com",
        amr,
        "aal2",
    )
    assert "prepared: POST /auth/mfa/totp/confirm -> 200" in logs


@pytest.mark.parametrize(
    ("event", "status"), [("mfa_recovery_codes.json", 200), ("mfa_disable.json", 204)]
)
def test_the_mfa_routes_behind_the_authorizer_get_an_aal2_session(event: str, status: int) -> None:
    reply, logs = answer("MfaFunction", "-e", str(EVENTS / event))
    assert reply["statusCode"] == status, reply
    # the session came from a recovery code, so the event's TOTP code was still unused
    assert "prepared: POST /auth/mfa/verify -> 200" in logs


def test_the_enrolment_authorizer_event_runs_with_mfa_required() -> None:
    event = str(EVENTS / "authorizer_mfa_enrollment.json")
    reply, logs = answer("MfaEnrollmentAuthorizerFunction", "-e", event)
    assert "Mfa=required" in logs
    assert reply["isAuthorized"] is True, reply
    context = reply["context"]
    assert (context["mfa_enrollment"], context["sid"], context["acr"]) == (True, "", "aal1")
    assert context["email"] == "ann@example.com"
    # the default authorizer refuses the same token
    refused, _ = answer("AuthorizerFunction", "-e", event)
    assert refused == {"isAuthorized": False}
    # without Mfa=required the login gives no enrolment token: said so, exit 1
    done = invoke(
        "MfaEnrollmentAuthorizerFunction", "-e", event, "--parameter-overrides", "Mfa=optional"
    )
    assert done.returncode == 1
    assert "no mfa_enrollment_required" in done.stderr


def test_the_jwks_needs_no_account() -> None:
    reply, logs = answer("JwksFunction", "-e", str(EVENTS / "jwks.json"))
    assert reply["statusCode"] == 200
    assert json.loads(reply["body"])["keys"]
    assert "prepared:" not in logs


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["NoSuchFunction", "-e", "events/login_ok.json"], "is not a function of"),
        (["LoginFunction", "-e", "events/no_such_event.json"], "cannot read the event file"),
        (["LoginFunction", "-e", "README.md"], "is not JSON"),
        (["LoginFunction", "--parameter-overrides", "NoSuchParameter=1"], "has no parameter"),
    ],
)
def test_mistakes_exit_non_zero_with_the_reason(arguments: list[str], message: str) -> None:
    done = invoke(*arguments)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""
