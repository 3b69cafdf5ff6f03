"""The second factor's routes in the fault matrix (issue 14): MfaFunction (enrol, confirm,
renew the recovery codes, turn the factor off), MfaVerifyFunction (a code, a recovery
code, a wrong code) and the login of an account with MFA on.

What a fault must never do here: accept a code without what it authorises (a time step
recorded used, a recovery code removed, while the session, the new codes or the turn-off
did not happen), turn the factor on without the codes reaching the caller, or lose
counted failures: the email's failed passwords (FAILED#) or the account's own count of
wrong codes (`code_failures` on its item, which only a right code clears). So each check
reads the account back: after a 503 its factor is as it was (the same code then works
on the retry, once), and where a call comes after the change committed, or is a
best-effort release or clear of a count (the notice; the password's reservation taken
back at renew and turn-off once it was right; FAILED# cleared) the answer is the
change's own.

Codes: each check's account gets its last accepted step set back (``_reset_steps``, the
tests' own write to moto), so the current step's code is unused, and recovery codes are
written fresh where a check spends one: the checks then need no waiting for a new step.
"""

from __future__ import annotations

import time
from typing import Any

from stateless_auth.domain import mfa as factor
from tests.faults.harness import (
    Call,
    account,
    code_failures,
    failures,
    get,
    password_verifies,
)
from tests.faults.scenarios import (
    Ctx,
    Scenario,
    expect,
    expect_unavailable,
    logged_in,
    verified_user,
)
from tests.support.events import body, error_of, with_json_body
from tests.support.handlers import Stack

USERS = "UsersTable"
SESSIONS = "SessionsTable"


# --- the account item, read and set by the tests' own client (never failed) ------------


def _key(email: str) -> dict[str, Any]:
    return {"pk": {"S": f"EMAIL#{email}"}}


def _item(stack: Stack, email: str) -> dict[str, Any]:
    found = account(stack, email)
    assert found is not None, f"no account for {email}"
    return found


def _update(
    stack: Stack, email: str, expression: str, values: dict[str, Any] | None = None
) -> None:
    request: dict[str, Any] = {
        "TableName": stack.tables[USERS],
        "Key": _key(email),
        "UpdateExpression": expression,
    }
    if values:
        request["ExpressionAttributeValues"] = values
    stack.dynamodb.update_item(**request)


def _clear_failures(stack: Stack, email: str) -> None:
    """No failed password (the FAILED# item) and no wrong code (the account's own count)."""
    stack.dynamodb.delete_item(TableName=stack.tables[USERS], Key={"pk": {"S": f"FAILED#{email}"}})
    _update(stack, email, "REMOVE code_failures, last_code_failure_at")


def _reset_steps(stack: Stack, email: str) -> None:
    """No time step used yet: the current step's code is one the service accepts."""
    _update(stack, email, "SET totp_last_step = :zero", {":zero": {"N": "0"}})


def _fresh_recovery_codes(stack: Stack, email: str) -> list[str]:
    codes = factor.new_recovery_codes(count=2)
    stored = {"M": {code_id: {"S": digest} for code_id, digest in codes.hashes.items()}}
    _update(stack, email, "SET recovery_codes = :codes", {":codes": stored})
    return list(codes.codes)


def _turn_on(stack: Stack, email: str, secret: str) -> None:
    _update(
        stack,
        email,
        "SET totp_secret = :s, totp_last_step = :zero, recovery_codes = :none",
        {":s": {"S": secret}, ":zero": {"N": "0"}, ":none": {"M": {}}},
    )


def _turn_off(stack: Stack, email: str) -> None:
    _update(
        stack,
        email,
        "REMOVE totp_secret, totp_last_step, recovery_codes, mfa_enabled_at,"
        " pending_totp_secret, pending_totp_expires_at",
    )


class _State:
    """The account item as one read found it: ``state["totp_secret"]`` (a string, the
    sorted keys of a map, or None), ``state.listed`` (the session ids it lists)."""

    def __init__(self, stack: Stack, email: str) -> None:
        self.item = _item(stack, email)
        self.listed = sorted(self.item.get("sessions", {}).get("M", {}))

    def __getitem__(self, name: str) -> Any:
        value = self.item.get(name)
        if value is None:
            return None
        ((kind, inner),) = value.items()
        return sorted(inner) if kind == "M" else inner


def _attribute(stack: Stack, email: str, name: str) -> Any:
    return _State(stack, email)[name]


def _listed(stack: Stack, email: str) -> list[str]:
    return _State(stack, email).listed


def _forget_sessions(stack: Stack, email: str) -> None:
    """The account lists no session (those of earlier checks count as ended): its item
    stays small however many checks log in."""
    _update(stack, email, "SET sessions = :none", {":none": {"M": {}}})


def _code(secret: str) -> str:
    return factor.totp_code(secret, factor.time_step(time.time()))


def _new_secret() -> str:
    return factor.new_totp_secret()


def invariants(stack: Stack, ctx: Ctx, *, failed_login: bool = False) -> str:
    """tests/faults/scenarios.invariants, with the sessions read by key: every session
    the account lists has its item, not revoked, and its current token is a current
    token of that session. (These routes never rotate a refresh token, so the table
    scan for a second current token, which grows with every check, is not needed.)"""
    state = _State(stack, ctx.email)
    for session_id in state.listed:
        session = get(stack, SESSIONS, f"SESSION#{session_id}")
        assert session is not None, f"listed session {session_id} has no session item"
        assert "revoked_at" not in session, f"listed session {session_id} is revoked"
        token = get(stack, SESSIONS, f"TOKEN#{session['current_token_hash']['S']}")
        assert token is not None, f"session {session_id}: no current token item"
        assert (token["state"]["S"], token["session_id"]["S"]) == ("current", session_id)
    assert password_verifies(stack, ctx.email, ctx.password, ctx.new_password), (
        "an account without a verifiable password"
    )
    if failed_login:
        assert failures(stack, ctx.email) >= ctx.failures_before, "the failure count decreased"
        assert code_failures(stack, ctx.email) >= ctx.code_failures_before, (
            "the count of wrong codes decreased"
        )
    return "listed sessions whole; password verifies" + (
        "; failures not decreased" if failed_login else ""
    )


def _no_code_counted(stack: Stack, ctx: Ctx, *, at_most: int = 0) -> str:
    """A right code's attempt: counted at most ``at_most`` times (a 503 after the
    reservation may leave it counted, which errs on the safe side), else taken back or
    cleared with the change it authorised."""
    counted = code_failures(stack, ctx.email)
    assert counted <= at_most, f"{counted} wrong codes counted for a right one"
    return "no wrong code counted" if at_most == 0 else "at most the right code's attempt counted"


# --- preparation -----------------------------------------------------------------------


def _mfa_user(stack: Stack, tag: str) -> Ctx:
    """The tag's account (one per stack), with MFA on under a secret the test knows
    (``message["secret"]``), its failures cleared and no step used."""
    ctx = verified_user(stack, tag)
    if "secret" not in ctx.message:
        ctx.message["secret"] = _new_secret()
        _turn_on(stack, ctx.email, ctx.message["secret"])
    _clear_failures(stack, ctx.email)
    ctx.failures_before = ctx.code_failures_before = 0
    _reset_steps(stack, ctx.email)
    _forget_sessions(stack, ctx.email)
    return ctx


def _login(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    payload = {"email": ctx.email, "password": ctx.password, "refresh_token_delivery": "body"}
    return stack.invoke("login", with_json_body("login_ok.json", payload))


def _with_mfa_token(ctx: Ctx, stack: Stack) -> Ctx:
    """A new login's mfa_token (one opens one session)."""
    reply = _login(stack, ctx)
    expect(reply, 200)
    ctx.token = body(reply)["mfa_token"]
    ctx.message["listed"] = _listed(stack, ctx.email)
    return ctx


def _plain_session(stack: Stack, tag: str) -> Ctx:
    """The tag's account with MFA off, its failures cleared, and a session (its access
    token, made once: these routes check the caller's account, not its session)."""
    ctx = verified_user(stack, tag)
    _turn_off(stack, ctx.email)
    _clear_failures(stack, ctx.email)
    ctx.failures_before = ctx.code_failures_before = 0
    if not ctx.access:
        logged_in(stack, ctx)
    return ctx


# --- login, MFA on ---------------------------------------------------------------------


def _prepare_login_mfa(stack: Stack) -> Ctx:
    ctx = _mfa_user(stack, "loginmfa")
    ctx.failures_before = 0
    ctx.message["listed"] = _listed(stack, ctx.email)
    return ctx


def _check_login_mfa(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    assert _listed(stack, ctx.email) == ctx.message["listed"], "a session opened by the password"
    if reply["statusCode"] == 200:
        assert body(reply)["mfa_required"] is True, reply
        # The reservation's release was lost: the attempt stays counted (the safe side).
        counted = _no_code_counted(stack, ctx)
        return invariants(stack, ctx, failed_login=True) + f"; mfa_required, no session; {counted}"
    expect_unavailable(reply)
    counted = _no_code_counted(stack, ctx)
    return invariants(stack, ctx, failed_login=True) + f"; no session, no mfa_token; {counted}"


def _retry_login_mfa(stack: Stack, ctx: Ctx, call: Call) -> None:
    reply = _login(stack, ctx)
    expect(reply, 200)
    assert body(reply)["mfa_required"] is True


# --- verify ----------------------------------------------------------------------------


def _prepare_verify(stack: Stack) -> Ctx:
    ctx = _with_mfa_token(_mfa_user(stack, "verify"), stack)
    ctx.message["code"] = _code(ctx.message["secret"])
    return ctx


def _verify(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    payload = {"mfa_token": ctx.token, "code": ctx.message["code"]}
    return stack.invoke("mfa_verify", with_json_body("mfa_verify.json", payload))


def _check_verify(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    expect_unavailable(reply)
    state = _State(stack, ctx.email)
    assert state["totp_last_step"] == "0", "a code accepted by a 503"
    assert state.listed == ctx.message["listed"], "a session opened by a 503"
    # The code was right: a 503 after its reservation clears it (as login's), so a user
    # retrying through a brownout does not lock themselves out.
    _no_code_counted(stack, ctx)
    invariants(stack, ctx)
    return (
        "no session; the code's step not used (the same code works on the retry);"
        " no wrong code counted"
    )


def _retry_verify(stack: Stack, ctx: Ctx, call: Call) -> None:
    expect(_verify(stack, ctx), 200)  # the same mfa_token and code: neither was spent
    assert len(_listed(stack, ctx.email)) == len(ctx.message["listed"]) + 1
    replayed = _verify(stack, ctx)  # both spent now: the code (checked first) and the token
    assert error_of(replayed) in {(401, "invalid_credentials"), (401, "invalid_token")}, replayed
    expect(_verify(stack, _with_mfa_token(ctx, stack)), 401, "invalid_credentials")  # the code too
    assert code_failures(stack, ctx.email) >= 1, "a used code not counted"
    _clear_failures(stack, ctx.email)
    invariants(stack, ctx)


def _prepare_recovery(stack: Stack) -> Ctx:
    ctx = _with_mfa_token(_mfa_user(stack, "recovery"), stack)
    ctx.message["recovery"] = _fresh_recovery_codes(stack, ctx.email)[0]
    return ctx


def _recovery_id(ctx: Ctx) -> str:
    return str(ctx.message["recovery"]).replace("-", "")[:4]


def _verify_recovery(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    payload = {"mfa_token": ctx.token, "recovery_code": ctx.message["recovery"]}
    return stack.invoke("mfa_verify", with_json_body("mfa_verify_recovery.json", payload))


def _check_recovery(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    state = _State(stack, ctx.email)
    stored = state["recovery_codes"] or []
    if call.service == "sqs":  # the notice, after the session opened with the code
        expect(reply, 200)
        assert _recovery_id(ctx) not in stored, "a recovery code used and kept"
        _no_code_counted(stack, ctx)
        invariants(stack, ctx)
        return "logged in (200), the code spent; only the notice lost"
    expect_unavailable(reply)
    assert _recovery_id(ctx) in stored, "a recovery code spent by a 503"
    assert state.listed == ctx.message["listed"], "a session opened by a 503"
    _no_code_counted(stack, ctx)
    invariants(stack, ctx)
    return "no session; the recovery code kept; no wrong code counted"


def _retry_recovery(stack: Stack, ctx: Ctx, call: Call) -> None:
    if call.service != "sqs":
        expect(_verify_recovery(stack, ctx), 200)
    # Used once: on a new login too.
    expect(_verify_recovery(stack, _with_mfa_token(ctx, stack)), 401, "invalid_credentials")
    _clear_failures(stack, ctx.email)


def _prepare_wrong_code(stack: Stack) -> Ctx:
    ctx = _with_mfa_token(_mfa_user(stack, "wrongcode"), stack)
    expect(_wrong_code(stack, ctx), 401, "invalid_credentials")  # one counted already
    # on the account's own count of wrong codes, not on the email's failed passwords
    ctx.failures_before = failures(stack, ctx.email)
    ctx.code_failures_before = code_failures(stack, ctx.email)
    assert (ctx.failures_before, ctx.code_failures_before) == (0, 1)
    return ctx


def _wrong_code(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    secret = ctx.message["secret"]
    step = factor.time_step(time.time())
    valid = {factor.totp_code(secret, s) for s in range(step - 1, step + 2)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in valid)
    payload = {"mfa_token": ctx.token, "code": wrong}
    return stack.invoke("mfa_verify", with_json_body("mfa_verify.json", payload))


def _check_wrong_code(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    expect_unavailable(reply)
    return invariants(stack, ctx, failed_login=True) + "; wrong codes not decreased"


def _retry_wrong_code(stack: Stack, ctx: Ctx, call: Call) -> None:
    expect(_wrong_code(stack, ctx), 401, "invalid_credentials")
    assert code_failures(stack, ctx.email) > ctx.code_failures_before
    assert failures(stack, ctx.email) == ctx.failures_before  # not a failed password


# --- enrol and confirm -----------------------------------------------------------------


def _prepare_enroll(stack: Stack) -> Ctx:
    ctx = _plain_session(stack, "enroll")
    ctx.message["pending"] = _attribute(stack, ctx.email, "pending_totp_secret")
    return ctx


def _enroll(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    return stack.call("mfa", "mfa_enroll.json", ctx.access, payload={"password": ctx.password})


def _check_enroll(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    state = _State(stack, ctx.email)
    assert state["totp_secret"] is None, "MFA turned on by an enrol"
    pending = state["pending_totp_secret"]
    if reply["statusCode"] == 200:
        # A best-effort release of the reservation lost: the enrolment stands.
        assert pending == body(reply)["secret"], "the secret answered is not the one pending"
        invariants(stack, ctx, failed_login=True)
        return "enrolled (200), the secret answered is the pending one; the attempt stays counted"
    expect_unavailable(reply)
    assert pending == ctx.message["pending"], "a secret left pending by a 503"
    invariants(stack, ctx, failed_login=True)
    return "nothing pending changed; MFA off"


def _retry_enroll(stack: Stack, ctx: Ctx, call: Call) -> None:
    reply = _enroll(stack, ctx)
    expect(reply, 200)
    assert _attribute(stack, ctx.email, "pending_totp_secret") == body(reply)["secret"]


def _prepare_confirm(stack: Stack) -> Ctx:
    ctx = _plain_session(stack, "confirm")
    started = _enroll(stack, ctx)
    expect(started, 200)
    ctx.message["secret"] = body(started)["secret"]
    ctx.message["code"] = _code(ctx.message["secret"])
    return ctx


def _confirm(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    return stack.call("mfa", "mfa_confirm.json", ctx.access, payload={"code": ctx.message["code"]})


def _check_confirm(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    secret = ctx.message["secret"]
    state = _State(stack, ctx.email)
    if reply["statusCode"] == 200:
        # After the factor was turned on: the caller has the codes that were stored.
        codes = body(reply)["recovery_codes"]
        assert state["totp_secret"] == secret
        stored = state["recovery_codes"]
        assert sorted(code.replace("-", "")[:4] for code in codes) == stored
        counted = _no_code_counted(stack, ctx)  # turning it on cleared the count
        invariants(stack, ctx)
        return f"on (200) with the recovery codes answered stored; only a notice lost; {counted}"
    expect_unavailable(reply)
    assert state["totp_secret"] is None, "MFA on after a 503 (codes lost)"
    assert state["pending_totp_secret"] == secret, "the enrolment lost"
    counted = _no_code_counted(stack, ctx, at_most=1)
    invariants(stack, ctx)
    return f"still off, the enrolment pending (the same code confirms on the retry); {counted}"


def _retry_confirm(stack: Stack, ctx: Ctx, call: Call) -> None:
    if _attribute(stack, ctx.email, "totp_secret") is None:
        reply = _confirm(stack, ctx)
        expect(reply, 200)
        assert len(body(reply)["recovery_codes"]) == factor.RECOVERY_CODE_COUNT
    expect(_confirm(stack, ctx), 409, "mfa_already_enabled")
    assert _attribute(stack, ctx.email, "totp_secret") == ctx.message["secret"]
    assert code_failures(stack, ctx.email) == 0  # the right code cleared what was counted


# --- renew the recovery codes, turn the factor off -------------------------------------


def _prepare_renew(stack: Stack) -> Ctx:
    ctx = _mfa_user(stack, "renew")
    if not ctx.access:
        _turn_off(stack, ctx.email)
        logged_in(stack, ctx)
        _turn_on(stack, ctx.email, ctx.message["secret"])
    _fresh_recovery_codes(stack, ctx.email)
    ctx.message["stored"] = _attribute(stack, ctx.email, "recovery_codes")
    ctx.message["code"] = _code(ctx.message["secret"])
    return ctx


def _with_factor(ctx: Ctx) -> dict[str, str]:
    return {"password": ctx.password, "code": ctx.message["code"]}


def _renew(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    return stack.call("mfa", "mfa_recovery_codes.json", ctx.access, payload=_with_factor(ctx))


def _check_renew(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    state = _State(stack, ctx.email)
    stored = state["recovery_codes"]
    if reply["statusCode"] == 200:
        codes = body(reply)["recovery_codes"]
        assert sorted(code.replace("-", "")[:4] for code in codes) == stored
        counted = _no_code_counted(stack, ctx)  # the renewal cleared the count
        invariants(stack, ctx)
        return (
            "renewed (200), the codes answered are the stored ones;"
            f" only a notice, a release or a clear lost; {counted}"
        )
    expect_unavailable(reply)
    assert stored == ctx.message["stored"], "recovery codes replaced by a 503"
    assert state["totp_last_step"] == "0", "the code spent by a 503"
    counted = _no_code_counted(stack, ctx, at_most=1)
    return (
        invariants(stack, ctx, failed_login=True) + f"; the old codes, the code unspent; {counted}"
    )


def _retry_renew(stack: Stack, ctx: Ctx, call: Call) -> None:
    if _attribute(stack, ctx.email, "recovery_codes") == ctx.message["stored"]:
        expect(_renew(stack, ctx), 200)
    expect(_renew(stack, ctx), 401, "invalid_credentials")  # the code was accepted once
    assert code_failures(stack, ctx.email) == 1, "the used code not counted"
    _clear_failures(stack, ctx.email)


def _prepare_disable(stack: Stack) -> Ctx:
    """Two sessions of the tag's account opened with MFA off, then MFA turned on: the
    caller's (``access``, kept by every turn-off) and a new one (``message["other"]``)."""
    ctx = verified_user(stack, "disable")
    _turn_off(stack, ctx.email)
    _clear_failures(stack, ctx.email)
    if not ctx.access or ctx.session_id not in _listed(stack, ctx.email):
        logged_in(stack, ctx)
    other = logged_in(stack, Ctx(**{**vars(ctx), "message": {}}))
    ctx.message = {"secret": _new_secret(), "other": other.token, "other_session": other.session_id}
    _turn_on(stack, ctx.email, ctx.message["secret"])
    ctx.failures_before = ctx.code_failures_before = 0
    ctx.message["code"] = _code(ctx.message["secret"])
    return ctx


def _disable(stack: Stack, ctx: Ctx) -> dict[str, Any]:
    return stack.call("mfa", "mfa_disable.json", ctx.access, payload=_with_factor(ctx))


def _check_disable(stack: Stack, ctx: Ctx, reply: dict[str, Any], call: Call) -> str:
    state = _State(stack, ctx.email)
    listed = state.listed
    if reply["statusCode"] == 204:
        assert state["totp_secret"] is None
        assert ctx.message["other_session"] not in listed, "another session kept"
        counted = _no_code_counted(stack, ctx)  # the turn-off cleared the count
        invariants(stack, ctx)
        return (
            "off (204), the other session ended; only a notice, a release or a clear lost;"
            f" {counted}"
        )
    expect_unavailable(reply)
    assert state["totp_secret"] == ctx.message["secret"], "off by a 503"
    assert ctx.message["other_session"] in listed, "a session ended by a 503"
    counted = _no_code_counted(stack, ctx, at_most=1)
    return invariants(stack, ctx, failed_login=True) + f"; MFA on, every session kept; {counted}"


def _retry_disable(stack: Stack, ctx: Ctx, call: Call) -> None:
    if _attribute(stack, ctx.email, "totp_secret") is not None:
        expect(_disable(stack, ctx), 204)
    listed = _listed(stack, ctx.email)
    assert ctx.session_id in listed, "the caller's session ended"
    assert ctx.message["other_session"] not in listed
    expect(_disable(stack, ctx), 409, "mfa_not_enabled")
    invariants(stack, ctx)


MFA_SCENARIOS = (
    Scenario(
        "POST /auth/login (MFA on)",
        (
            "dynamodb.BatchGetItem",
            "dynamodb.UpdateItem",
            "dynamodb.UpdateItem",
        ),
        _prepare_login_mfa,
        _login,
        _check_login_mfa,
        _retry_login_mfa,
        after_commit={"2:dynamodb.UpdateItem": 200},
    ),
    Scenario(
        "POST /auth/mfa/verify",
        (
            "dynamodb.BatchGetItem",
            "dynamodb.UpdateItem",
            "dynamodb.TransactWriteItems",
        ),
        _prepare_verify,
        _verify,
        _check_verify,
        _retry_verify,
    ),
    Scenario(
        "POST /auth/mfa/verify (recovery code)",
        (
            "dynamodb.BatchGetItem",
            "dynamodb.UpdateItem",
            "dynamodb.TransactWriteItems",
            "sqs.SendMessage",
        ),
        _prepare_recovery,
        _verify_recovery,
        _check_recovery,
        _retry_recovery,
        after_commit={"sqs.SendMessage": 200},
    ),
    Scenario(
        "POST /auth/mfa/verify (wrong code)",
        (
            "dynamodb.BatchGetItem",  # the account and its failed passwords
            "dynamodb.UpdateItem",  # the code reserved on the account's count (EMAIL#)
        ),
        _prepare_wrong_code,
        _wrong_code,
        _check_wrong_code,
        _retry_wrong_code,
        clean_status=401,
    ),
    Scenario(
        "POST /auth/mfa/totp/enroll",
        (
            "dynamodb.BatchGetItem",
            "dynamodb.UpdateItem",
            "dynamodb.UpdateItem",
            "dynamodb.UpdateItem",
        ),
        _prepare_enroll,
        _enroll,
        _check_enroll,
        _retry_enroll,
        after_commit={"2:dynamodb.UpdateItem": 200},
    ),
    Scenario(
        "POST /auth/mfa/totp/confirm",
        (
            "dynamodb.BatchGetItem",  # the account and its failed passwords
            "dynamodb.UpdateItem",  # the code reserved on the account's count (EMAIL#)
            "dynamodb.UpdateItem",  # MFA on, the count cleared
            "sqs.SendMessage",
        ),
        _prepare_confirm,
        _confirm,
        _check_confirm,
        _retry_confirm,
        after_commit={"sqs.SendMessage": 200},
    ),
    Scenario(
        "POST /auth/mfa/recovery-codes",
        (
            "dynamodb.BatchGetItem",  # the account and its failed passwords
            "dynamodb.UpdateItem",  # the password reserved (FAILED#)
            "dynamodb.UpdateItem",  # ... and released, the password right (FAILED#)
            "dynamodb.UpdateItem",  # the code reserved on the account's count (EMAIL#)
            "dynamodb.UpdateItem",  # the new codes, the count of wrong codes cleared
            "dynamodb.DeleteItem",  # FAILED# cleared
            "sqs.SendMessage",
        ),
        _prepare_renew,
        _renew,
        _check_renew,
        _retry_renew,
        after_commit={
            "2:dynamodb.UpdateItem": 200,  # a best-effort release
            "dynamodb.DeleteItem": 200,
            "sqs.SendMessage": 200,
        },
    ),
    Scenario(
        "DELETE /auth/mfa",
        (
            "dynamodb.BatchGetItem",
            "dynamodb.UpdateItem",  # the password reserved (FAILED#)
            "dynamodb.UpdateItem",  # ... and released (FAILED#)
            "dynamodb.UpdateItem",  # the code reserved (EMAIL#)
            "dynamodb.UpdateItem",  # MFA off, the other sessions ended, the count cleared
            "dynamodb.DeleteItem",  # FAILED# cleared
            "sqs.SendMessage",
        ),
        _prepare_disable,
        _disable,
        _check_disable,
        _retry_disable,
        after_commit={
            "2:dynamodb.UpdateItem": 204,  # a best-effort release
            "dynamodb.DeleteItem": 204,
            "sqs.SendMessage": 204,
        },
    ),
)
