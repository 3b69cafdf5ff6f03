"""functions/mfa, functions/mfa_verify and the enrolment authorizer (functions/authorizer
with ACCEPT_MFA_ENROLLMENT_TOKENS) driven by their events/ files, as API Gateway hands
them over (Stack.authorized: the context the authorizer's decision gives for a real
token), with codes an authenticator app would show (tests/support/mfa.py)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from tests.support.events import (
    body,
    cookie_token,
    error_of,
    load_event,
    with_bearer,
    with_json_body,
)
from tests.support.handlers import Stack, import_handler, invoke
from tests.support.mfa import Authenticator, parse_key_uri, secret_bits, unverified_segments
from tests.support.settings import AUDIENCE

pytestmark = pytest.mark.xdist_group("handlers")

PASSWORD = "correct horse battery staple"  # the password of events/mfa_*.json
WRONG = "certainly not the password"
RECOVERY_CODE = re.compile(r"[a-z2-7]{4}(-[a-z2-7]{4}){4}")
EVIL = {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}


@dataclass
class Enrolled:
    email: str
    app: Authenticator
    codes: list[str]
    tokens: dict[str, Any]  # the password-only login that enrolled (body delivery)


def user_item(stack: Stack, email: str) -> dict[str, Any]:
    item: dict[str, Any] = stack.dynamodb.get_item(
        TableName=stack.tables["UsersTable"], Key={"pk": {"S": f"EMAIL#{email}"}}
    )["Item"]
    return item


def failures(stack: Stack, email: str) -> int:
    """The email's failed passwords (its FAILED# item)."""
    item = stack.dynamodb.get_item(
        TableName=stack.tables["UsersTable"], Key={"pk": {"S": f"FAILED#{email}"}}
    ).get("Item")
    return 0 if item is None else int(item["failures"]["N"])


def code_failures(stack: Stack, email: str) -> int:
    """The account's own count of wrong second-factor codes (on its EMAIL# item)."""
    return int(user_item(stack, email).get("code_failures", {}).get("N", "0"))


def counts(stack: Stack, email: str) -> tuple[int, int]:
    """(failed passwords, wrong codes)."""
    return failures(stack, email), code_failures(stack, email)


def subjects(stack: Stack, email: str) -> list[str]:
    stack.run_mailer()
    return [mail.subject.split(": ", 1)[1] for mail in stack.mails_to(email)]


def enroll(stack: Stack, access_token: str, password: str = PASSWORD) -> dict[str, Any]:
    return stack.call("mfa", "mfa_enroll.json", access_token, payload={"password": password})


def confirm(stack: Stack, access_token: str, code: str) -> dict[str, Any]:
    return stack.call("mfa", "mfa_confirm.json", access_token, payload={"code": code})


def enrolled(stack: Stack, email: str) -> Enrolled:
    """A verified account of its own with MFA on, through the events' routes."""
    stack.sign_up_verified(email, PASSWORD)
    tokens = stack.log_in(email, PASSWORD)
    started = enroll(stack, tokens["access_token"])
    assert started["statusCode"] == 200, started
    app = Authenticator(body(started)["secret"])
    confirmed = confirm(stack, tokens["access_token"], app.code())
    assert confirmed["statusCode"] == 200, confirmed
    return Enrolled(email, app, list(body(confirmed)["recovery_codes"]), tokens)


def mfa_token(stack: Stack, email: str, **login: str) -> str:
    event = with_json_body("login_ok.json", {"email": email, "password": PASSWORD, **login})
    reply = stack.invoke("login", event)
    assert reply["statusCode"] == 200, reply
    answer = body(reply)
    assert answer["mfa_required"] is True, answer
    return str(answer["mfa_token"])


def verify(stack: Stack, token: str, **fields: Any) -> dict[str, Any]:
    return stack.invoke(
        "mfa_verify", with_json_body("mfa_verify.json", {"mfa_token": token, **fields})
    )


def claims_of(token: str) -> dict[str, Any]:
    return unverified_segments(token)[1]


def refresh(stack: Stack, refresh_token: str) -> dict[str, Any]:
    event = with_json_body("refresh_body.json", {"refresh_token": refresh_token})
    return stack.invoke("refresh", event)


# --- enrolment ---------------------------------------------------------------------------


def test_enrol_answers_a_160_bit_secret_and_its_key_uri_and_turns_nothing_on(
    stack: Stack,
) -> None:
    email = "mfa-enrol@example.com"
    stack.sign_up_verified(email, PASSWORD)
    tokens = stack.log_in(email, PASSWORD)
    reply = enroll(stack, tokens["access_token"])
    assert reply["statusCode"] == 200, reply
    answer = body(reply)
    assert set(answer) == {"secret", "otpauth_uri"}
    assert secret_bits(answer["secret"]) == 160
    uri = parse_key_uri(answer["otpauth_uri"])
    assert (uri.kind, uri.secret, uri.algorithm, uri.digits, uri.period) == (
        "totp",
        answer["secret"],
        "SHA1",
        6,
        30,
    )
    assert uri.issuer == "Stateless Auth"
    assert email in uri.label
    assert reply["headers"]["Cache-Control"] == "no-store"
    # pending only: the password alone still logs in, and nothing is active
    assert "access_token" in stack.log_in(email, PASSWORD)
    item = user_item(stack, email)
    assert "totp_secret" not in item
    assert item["pending_totp_secret"]["S"] == answer["secret"]
    # a new enrolment replaces the pending one
    again = body(enroll(stack, tokens["access_token"]))["secret"]
    assert again != answer["secret"]
    assert user_item(stack, email)["pending_totp_secret"]["S"] == again
    stale = confirm(stack, tokens["access_token"], Authenticator(answer["secret"]).code())
    assert error_of(stale) == (400, "invalid_code")


def test_enrol_with_a_wrong_password_is_refused_and_counted(stack: Stack) -> None:
    email = "mfa-enrol-wrong@example.com"
    stack.sign_up_verified(email, PASSWORD)
    tokens = stack.log_in(email, PASSWORD)
    assert failures(stack, email) == 0
    reply = enroll(stack, tokens["access_token"], password=WRONG)
    assert error_of(reply) == (401, "invalid_credentials")
    assert failures(stack, email) == 1
    assert "pending_totp_secret" not in user_item(stack, email)


def test_confirm_turns_mfa_on_with_ten_hashed_recovery_codes_and_a_notice(stack: Stack) -> None:
    account = enrolled(stack, "mfa-confirm@example.com")
    codes = account.codes
    assert len(codes) == 10 == len(set(codes))
    assert all(RECOVERY_CODE.fullmatch(code) for code in codes), codes
    item = user_item(stack, account.email)
    assert item["totp_secret"]["S"] == account.app.secret
    assert int(item["totp_last_step"]["N"]) == account.app.last_step  # the step is used
    assert "pending_totp_secret" not in item
    stored = item["recovery_codes"]["M"]
    assert set(stored) == {code.split("-")[0] for code in codes}  # the public ids
    assert all(value["S"].startswith("$argon2id$") for value in stored.values())
    raw = json.dumps(item)
    assert not any(code.replace("-", "") in raw.replace("-", "") for code in codes)
    assert "two-step verification is on" in subjects(stack, account.email)
    # on: a second confirmation or enrolment is refused
    again = confirm(stack, account.tokens["access_token"], account.app.code())
    assert error_of(again) == (409, "mfa_already_enabled")
    assert error_of(enroll(stack, account.tokens["access_token"])) == (409, "mfa_already_enabled")


def test_confirm_without_an_enrolment_or_with_a_wrong_code(stack: Stack) -> None:
    email = "mfa-confirm-refused@example.com"
    stack.sign_up_verified(email, PASSWORD)
    access = stack.log_in(email, PASSWORD)["access_token"]
    assert error_of(confirm(stack, access, "123456")) == (409, "mfa_not_enrolling")
    app = Authenticator(body(enroll(stack, access))["secret"])
    assert error_of(confirm(stack, access, app.wrong_code())) == (400, "invalid_code")
    for junk in ({}, {"code": 123456}, {"code": ["123456"]}):
        reply = stack.call("mfa", "mfa_confirm.json", access, payload=junk)
        assert error_of(reply) == (400, "invalid_request"), junk
    assert confirm(stack, access, app.code())["statusCode"] == 200


# --- login's second step -----------------------------------------------------------------


def test_login_with_mfa_on_answers_an_mfa_token_and_no_tokens(stack: Stack) -> None:
    account = enrolled(stack, "mfa-login@example.com")
    reply = stack.invoke(
        "login", with_json_body("login_ok.json", {"email": account.email, "password": PASSWORD})
    )
    assert reply["statusCode"] == 200, reply
    answer = body(reply)
    assert set(answer) == {"mfa_required", "mfa_token", "expires_in"}
    assert (answer["mfa_required"], answer["expires_in"]) == (True, 300)
    assert "cookies" not in reply
    header, claims = unverified_segments(answer["mfa_token"])
    assert (header["alg"], header["typ"]) == ("ES256", "mfa+jwt")
    assert claims["aud"] == f"{AUDIENCE}:mfa"
    assert (claims["purpose"], claims["amr"], claims["exp"] - claims["iat"]) == (
        "verify",
        ["pwd"],
        300,
    )
    assert claims["email"] == account.email
    # the authorizers and refresh refuse it
    assert stack.invoke(
        "authorizer", with_bearer("authorizer_valid.json", answer["mfa_token"])
    ) == {"isAuthorized": False}
    assert error_of(refresh(stack, answer["mfa_token"])) == (401, "invalid_token")
    # the right password is no failure, but the count is reset only by a verify
    assert counts(stack, account.email) == (0, 0)


def test_verify_with_a_code_opens_an_aal2_session_and_refuses_the_code_again(
    stack: Stack,
) -> None:
    account = enrolled(stack, "mfa-verify@example.com")
    token = mfa_token(stack, account.email)
    code = account.app.code()
    reply = verify(stack, token, code=code)
    assert reply["statusCode"] == 200, reply
    tokens = body(reply)
    assert set(tokens) == {"access_token", "token_type", "expires_in"}
    assert cookie_token(reply)  # the login asked for nothing: the cookie
    claims = claims_of(tokens["access_token"])
    assert (claims["amr"], claims["acr"]) == (["pwd", "otp"], "aal2")
    context = stack.authorizer_context(tokens["access_token"])
    assert (context["acr"], context["amr"]) == ("aal2", ["pwd", "otp"])
    me_event = load_event("me.json")  # its context is an older shape: the real one
    me_event["requestContext"]["authorizer"] = {"lambda": context}
    me = stack.invoke("me", me_event)
    assert set(body(me)) == {"user_id", "email", "email_verified", "roles"}  # the contract's
    # the same code again, with a fresh mfa_token: a failed login
    replay = verify(stack, mfa_token(stack, account.email), code=code)
    assert error_of(replay) == (401, "invalid_credentials")
    assert counts(stack, account.email) == (0, 1)  # on the account's count of wrong codes
    # a refreshed token keeps the session's amr
    refreshed = stack.invoke(
        "refresh",
        load_event("refresh_cookie.json")
        | {"cookies": [f"__Host-refresh_token={cookie_token(reply)}"]},
    )
    assert refreshed["statusCode"] == 200, refreshed
    assert claims_of(body(refreshed)["access_token"])["amr"] == ["pwd", "otp"]


def test_verify_with_a_recovery_code_uses_it_up_and_sends_a_notice(stack: Stack) -> None:
    account = enrolled(stack, "mfa-recovery@example.com")
    first, second = account.codes[0], account.codes[1]
    reply = stack.invoke(
        "mfa_verify",
        with_json_body(
            "mfa_verify_recovery.json",
            {"mfa_token": mfa_token(stack, account.email), "recovery_code": first},
        ),
    )
    assert reply["statusCode"] == 200, reply
    claims = claims_of(body(reply)["access_token"])
    assert (claims["amr"], claims["acr"]) == (["pwd", "mfa"], "aal2")
    assert "a recovery code was used" in subjects(stack, account.email)
    assert first.split("-")[0] not in user_item(stack, account.email)["recovery_codes"]["M"]
    again = verify(stack, mfa_token(stack, account.email), recovery_code=first)
    assert error_of(again) == (401, "invalid_credentials")
    # typed as people type it: upper case, spaces for dashes
    typed = second.upper().replace("-", " ")
    assert verify(stack, mfa_token(stack, account.email), recovery_code=typed)["statusCode"] == 200


def test_verify_delivers_the_refresh_token_where_the_login_asked(stack: Stack) -> None:
    account = enrolled(stack, "mfa-delivery@example.com")
    token = mfa_token(stack, account.email, refresh_token_delivery="body")
    reply = verify(stack, token, code=account.app.code())
    assert reply["statusCode"] == 200, reply
    assert "cookies" not in reply
    tokens = body(reply)
    assert tokens["refresh_expires_in"] == 7776000
    assert refresh(stack, tokens["refresh_token"])["statusCode"] == 200
    # verify's own choice wins
    chosen = verify(
        stack,
        mfa_token(stack, account.email, refresh_token_delivery="body"),
        recovery_code=account.codes[0],
        refresh_token_delivery="cookie",
    )
    assert "refresh_token" not in body(chosen)
    assert cookie_token(chosen)


def test_verify_needs_exactly_one_factor(stack: Stack) -> None:
    account = enrolled(stack, "mfa-one-of@example.com")
    token = mfa_token(stack, account.email)
    for fields in (
        {},
        {"code": "123456", "recovery_code": "abcd-efgh-ijkl-mnop-qrst"},
        {"code": 123456},
        {"recovery_code": None},
        {"recovery_code": ["abcd-efgh-ijkl-mnop-qrst"]},
        {"code": "123456", "refresh_token_delivery": "pigeon"},
    ):
        assert error_of(verify(stack, token, **fields)) == (400, "invalid_request"), fields
    for junk in ({"code": "1"}, {"mfa_token": 5, "code": "123456"}):
        event = with_json_body("mfa_verify.json", junk)
        assert error_of(stack.invoke("mfa_verify", event))[0] == 400, junk
    assert counts(stack, account.email) == (0, 0)  # no code was checked


def test_verify_refuses_anything_but_a_live_mfa_token(stack: Stack) -> None:
    account = enrolled(stack, "mfa-token-refused@example.com")
    code = account.app.code()  # a right one: the token is refused first
    for token in (
        "garbage",
        "a.b.c",
        account.tokens["access_token"],
        account.tokens["refresh_token"],
    ):
        reply = verify(stack, token, code=code)
        assert error_of(reply) == (401, "invalid_token"), token
    assert counts(stack, account.email) == (0, 0)


def test_a_password_reset_voids_the_mfa_token_but_not_the_second_factor(stack: Stack) -> None:
    """ASVS 6.4.3: after a reset the next login still asks for the code."""
    account = enrolled(stack, "mfa-reset@example.com")
    before = mfa_token(stack, account.email)
    forgot = with_json_body("password_forgot.json", {"email": account.email})
    assert stack.invoke("password_reset", forgot)["statusCode"] == 202
    stack.run_mailer()
    link = stack.link_token(account.email, "reset_password")
    new_password = "an entirely new passphrase here"
    reset = with_json_body("password_reset.json", {"token": link, "password": new_password})
    assert stack.invoke("password_reset", reset)["statusCode"] == 204
    assert error_of(verify(stack, before, code=account.app.code())) == (401, "invalid_token")
    answer = stack.log_in(account.email, new_password)
    assert answer["mfa_required"] is True
    assert "access_token" not in answer


def test_wrong_codes_count_toward_the_lock_out(stack: Stack) -> None:
    account = enrolled(stack, "mfa-lockout@example.com")
    for _ in range(5):  # MAX_FAILED_LOGINS
        token = mfa_token(stack, account.email)
        assert error_of(verify(stack, token, code=account.app.wrong_code()))[1] == (
            "invalid_credentials"
        )
    assert counts(stack, account.email) == (0, 5)  # counted on the account, not FAILED#
    last = int(user_item(stack, account.email)["last_code_failure_at"]["N"])
    locked = stack.invoke(
        "login",
        with_json_body("login_ok.json", {"email": account.email, "password": PASSWORD}),
    )
    assert error_of(locked) == (429, "too_many_attempts")
    assert 0 < int(locked["headers"]["Retry-After"]) <= 300
    assert int(user_item(stack, account.email)["last_code_failure_at"]["N"]) == last
    # the right code is refused too: the lock holds the code as well as the password
    right = verify(stack, token, code=account.app.code())
    assert error_of(right) == (429, "too_many_attempts")
    assert counts(stack, account.email) == (0, 5)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (EVIL, {(403, "cross_site_request")}),
        ({"content-type": "text/plain"}, {(415, "unsupported_media_type")}),
    ],
)
def test_verify_refuses_cross_site_and_non_json_calls(
    stack: Stack, headers: dict[str, str], expected: set[tuple[int, str]]
) -> None:
    account = enrolled(stack, f"mfa-csrf-{len(headers)}@example.com")
    event = with_json_body(
        "mfa_verify.json",
        {"mfa_token": mfa_token(stack, account.email), "code": account.app.code()},
    )
    event["headers"] = {**event["headers"], **headers}
    assert error_of(stack.invoke("mfa_verify", event)) in expected
    assert counts(stack, account.email) == (0, 0)


# --- new recovery codes, and MFA off ----------------------------------------------------


def aal2_session(stack: Stack, account: Enrolled, **factor: str) -> dict[str, Any]:
    """The tokens (body delivery) of a login finished with ``factor`` (code= or
    recovery_code=), by default the next TOTP code."""
    token = mfa_token(stack, account.email, refresh_token_delivery="body")
    reply = verify(stack, token, **(factor or {"code": account.app.code()}))
    assert reply["statusCode"] == 200, reply
    return body(reply)


def test_new_recovery_codes_replace_the_old_ones(stack: Stack) -> None:
    account = enrolled(stack, "mfa-renew@example.com")
    access = aal2_session(stack, account)["access_token"]
    wrong = stack.call(
        "mfa",
        "mfa_recovery_codes.json",
        access,
        payload={"password": WRONG, "recovery_code": account.codes[2]},
    )
    assert error_of(wrong) == (401, "invalid_credentials")
    wrong_code = stack.call(
        "mfa",
        "mfa_recovery_codes.json",
        access,
        payload={"password": PASSWORD, "code": account.app.wrong_code()},
    )
    assert error_of(wrong_code) == error_of(wrong)  # the same answer for either factor
    # each on its own count: the wrong password on FAILED#, the wrong code on the account
    assert counts(stack, account.email) == (1, 1)
    reply = stack.call(
        "mfa",
        "mfa_recovery_codes.json",
        access,
        payload={"password": PASSWORD, "recovery_code": account.codes[0]},
    )
    assert reply["statusCode"] == 200, reply
    renewed = body(reply)["recovery_codes"]
    assert len(renewed) == 10
    assert counts(stack, account.email) == (0, 0)  # both factors right: both cleared
    assert not set(renewed) & set(account.codes)
    assert "new recovery codes" in subjects(stack, account.email)
    old = verify(stack, mfa_token(stack, account.email), recovery_code=account.codes[1])
    assert error_of(old) == (401, "invalid_credentials")
    assert (
        verify(stack, mfa_token(stack, account.email), recovery_code=renewed[0])["statusCode"]
        == 200
    )


def test_mfa_off_needs_both_factors_and_ends_every_other_session(stack: Stack) -> None:
    account = enrolled(stack, "mfa-off@example.com")
    other = aal2_session(stack, account, recovery_code=account.codes[0])
    mine = aal2_session(stack, account, recovery_code=account.codes[1])
    refused = stack.call(
        "mfa",
        "mfa_disable.json",
        mine["access_token"],
        payload={"password": PASSWORD, "code": account.app.wrong_code()},
    )
    assert error_of(refused) == (401, "invalid_credentials")
    assert counts(stack, account.email) == (0, 1)
    reply = stack.call(
        "mfa",
        "mfa_disable.json",
        mine["access_token"],
        payload={"password": PASSWORD, "code": account.app.code()},
    )
    assert reply["statusCode"] == 204, reply
    assert counts(stack, account.email) == (0, 0)
    assert "two-step verification is off" in subjects(stack, account.email)
    assert error_of(refresh(stack, other["refresh_token"])) == (401, "invalid_token")
    assert refresh(stack, mine["refresh_token"])["statusCode"] == 200  # the caller's is kept
    assert "access_token" in stack.log_in(account.email, PASSWORD)  # the password alone
    off = stack.call(
        "mfa",
        "mfa_recovery_codes.json",
        mine["access_token"],
        payload={"password": PASSWORD, "code": account.app.wrong_code()},
    )
    assert error_of(off) == (409, "mfa_not_enabled")
    item = user_item(stack, account.email)
    assert not {
        "totp_secret",
        "recovery_codes",
        "totp_last_step",
        "code_failures",
        "last_code_failure_at",
    } & set(item)


# --- MFA=required: the enrolment token and its authorizer --------------------------------


@dataclass
class Required:
    """The login and the two authorizers as deployed with Mfa=required."""

    login: ModuleType
    enrollment_authorizer: ModuleType
    authorizer: ModuleType


@pytest.fixture(scope="module")
def required(stack: Stack) -> Required:
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("MFA", "required")
        login = import_handler("login", module_name="handler_login_mfa_required")
        authorizer = import_handler("authorizer", module_name="handler_authorizer_mfa_required")
        environment.setenv("ACCEPT_MFA_ENROLLMENT_TOKENS", "true")
        enrollment = import_handler("authorizer", module_name="handler_mfa_enrollment_authorizer")
    return Required(login, enrollment, authorizer)


def required_login(required: Required, email: str, password: str = PASSWORD) -> dict[str, Any]:
    event = with_json_body("login_ok.json", {"email": email, "password": password})
    reply: dict[str, Any] = invoke(required.login, event)
    return reply


def test_mfa_required_enrols_with_the_enrolment_token_only(
    stack: Stack, required: Required
) -> None:
    email = "mfa-required@example.com"
    user = stack.sign_up_verified(email, PASSWORD)
    reply = required_login(required, email)
    assert reply["statusCode"] == 200, reply
    answer = body(reply)
    assert set(answer) == {"mfa_enrollment_required", "mfa_token", "expires_in"}
    assert (answer["mfa_enrollment_required"], answer["expires_in"]) == (True, 300)
    assert "cookies" not in reply
    assert claims_of(answer["mfa_token"])["purpose"] == "enroll"
    token = answer["mfa_token"]
    request = with_bearer("authorizer_mfa_enrollment.json", token)
    # the default authorizer (and its copy under Mfa=required) denies it everywhere
    assert invoke(required.authorizer, request) == {"isAuthorized": False}
    assert stack.invoke("authorizer", request) == {"isAuthorized": False}
    decision = invoke(required.enrollment_authorizer, request)
    assert decision["isAuthorized"] is True, decision
    context = decision["context"]
    assert {k: context[k] for k in ("sub", "email", "sid", "roles", "acr", "amr")} == {
        "sub": user["user_id"],
        "email": email,
        "sid": "",
        "roles": [],
        "acr": "aal1",
        "amr": ["pwd"],
    }
    assert context["mfa_enrollment"] is True
    assert set(context) == {
        "sub",
        "email",
        "sid",
        "roles",
        "email_verified",
        "acr",
        "amr",
        "mfa_enrollment",
        "psid",
        "epoch",
        "jti",
        "exp",
    }
    # bound to the password and epoch it was issued for, which the enrolment routes check
    item = user_item(stack, email)
    token_claims = claims_of(token)
    assert (context["psid"], context["epoch"]) == (
        item["password_set_id"]["S"],
        int(item["sessions_epoch"]["N"]),
    )
    assert (context["jti"], context["exp"]) == (token_claims["jti"], token_claims["exp"])

    def with_enrolment_context(name: str, payload: dict[str, Any]) -> dict[str, Any]:
        event = with_json_body(name, payload)
        event["headers"] = {**event["headers"], "authorization": f"Bearer {token}"}
        event["requestContext"] = {**event["requestContext"], "authorizer": {"lambda": context}}
        return event

    started = stack.invoke("mfa", with_enrolment_context("mfa_enroll.json", {"password": PASSWORD}))
    assert started["statusCode"] == 200, started
    app = Authenticator(body(started)["secret"])
    confirmed = stack.invoke(
        "mfa", with_enrolment_context("mfa_confirm.json", {"code": app.code()})
    )
    assert confirmed["statusCode"] == 200, confirmed
    # the other MFA routes never take its context (their authorizer denies it anyway)
    for name in ("mfa_recovery_codes.json", "mfa_disable.json"):
        refused = stack.invoke(
            "mfa", with_enrolment_context(name, {"password": PASSWORD, "code": app.wrong_code()})
        )
        assert error_of(refused) == (400, "invalid_request"), refused
    assert "totp_secret" in user_item(stack, email)  # still on
    # enrolled: the next login asks for a code
    assert body(required_login(required, email))["mfa_required"] is True
    # the enrolment token is no verify token
    assert error_of(verify(stack, token, code=app.code())) == (401, "invalid_token")


def test_an_enrolment_context_for_another_password_or_epoch_is_refused(
    stack: Stack, required: Required
) -> None:
    """The MFA function checks the enrolment token's psid and epoch (from the enrolment
    authorizer's context) against the account: a token from before a reset, or a context
    without them, neither enrols nor confirms, and counts nothing."""
    email = "mfa-required-bound@example.com"
    stack.sign_up_verified(email, PASSWORD)
    token = body(required_login(required, email))["mfa_token"]
    decision = invoke(
        required.enrollment_authorizer, with_bearer("authorizer_mfa_enrollment.json", token)
    )
    assert decision["isAuthorized"] is True, decision
    context = decision["context"]

    def call(name: str, payload: dict[str, Any], lambda_context: dict[str, Any]) -> Any:
        event = with_json_body(name, payload)
        event["headers"] = {**event["headers"], "authorization": f"Bearer {token}"}
        event["requestContext"] = {
            **event["requestContext"],
            "authorizer": {"lambda": lambda_context},
        }
        return stack.invoke("mfa", event)

    started = call("mfa_enroll.json", {"password": PASSWORD}, context)
    assert started["statusCode"] == 200, started
    app = Authenticator(body(started)["secret"])
    code = app.code()  # refused before it is checked: it confirms at the end
    stale = [
        {**context, "psid": "another-password-set-id"},
        {**context, "epoch": context["epoch"] + 1},
    ]
    for bound in stale:
        assert error_of(call("mfa_enroll.json", {"password": PASSWORD}, bound)) == (
            401,
            "invalid_token",
        )
        assert error_of(call("mfa_confirm.json", {"code": code}, bound)) == (
            401,
            "invalid_token",
        )
    for unbound in (
        {k: v for k, v in context.items() if k != "psid"},
        {k: v for k, v in context.items() if k != "epoch"},
        {**context, "epoch": str(context["epoch"])},
    ):
        assert error_of(call("mfa_confirm.json", {"code": code}, unbound)) == (
            400,
            "invalid_request",
        )
    item = user_item(stack, email)
    assert "totp_secret" not in item
    assert item["pending_totp_secret"]["S"] == app.secret  # the enrolment untouched
    assert counts(stack, email) == (0, 0)
    # the context as the authorizer gave it still confirms
    confirmed = call("mfa_confirm.json", {"code": code}, context)
    assert confirmed["statusCode"] == 200, confirmed


def test_mfa_required_still_answers_email_not_verified_first(
    stack: Stack, required: Required
) -> None:
    email = "mfa-required-unverified@example.com"
    stack.sign_up(email, PASSWORD)
    assert error_of(required_login(required, email)) == (403, "email_not_verified")
    assert error_of(required_login(required, email, WRONG)) == (401, "invalid_credentials")


def test_the_enrolment_authorizer_allows_access_tokens_and_no_verify_token(
    stack: Stack, required: Required
) -> None:
    account = enrolled(stack, "mfa-enrolment-authorizer@example.com")
    access = account.tokens["access_token"]
    request = with_bearer("authorizer_mfa_enrollment.json", access)
    allowed = invoke(required.enrollment_authorizer, request)
    assert allowed == stack.invoke("authorizer", with_bearer("authorizer_valid.json", access))
    verify_token = with_bearer("authorizer_mfa_enrollment.json", mfa_token(stack, account.email))
    assert invoke(required.enrollment_authorizer, verify_token) == {"isAuthorized": False}
