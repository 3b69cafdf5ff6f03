"""The second factor over real HTTP through `python -m localapi` and its mailbox (issue
14; docs/mfa.md): enrol with the password (a standard Key URI), confirm with a real TOTP
code computed by the test (pyotp), log in to `mfa_required`, verify with a code (`amr`
["pwd","otp"], `acr` aal2) or a recovery code (["pwd","mfa"]), each accepted once, and
the mfa_token once too; the notices; the mfa_token refused by the authorizer and by
refresh; a password reset that still asks for the code; renewing the codes; turning the
factor off; the lock-out over wrong codes; the delivery carried from the login to
verify; the cross-site, 415 and no-token refusals of the new routes; and the
`MFA=required` walk-through (a second local API).

One local API for the module in `optional` mode (a small lock-out), every test with its
own addresses and its own authenticator, so they need no order and share only the
server. Codes: each account's authenticator hands out codes of later and later time
steps (tests/support/mfa.py), at most three per 30 s step, so no test waits unless it
needs more.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest

from localapi.testing import running_local_api
from tests.support import mfa
from tests.support.http_client import Client, Reply
from tests.support.local_mail import (
    Device,
    claims_of,
    logged_in_device,
    messages,
    settle,
    verified_account,
    wait_for_mail,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-mfa")]
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase, long enough"
WRONG = "a wrong but long passphrase"
MAX_FAILED_LOGINS = 3
LOCKOUT_SECONDS = 300
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148 Safari/604.1"
LAPTOP = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
EVIL = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
ISSUER_NAME = "Stateless Auth"
RECOVERY_CODE = re.compile(r"^[a-z2-7]{4}(-[a-z2-7]{4}){4}$")
BASE32 = re.compile(r"^[A-Z2-7]+$")
TOKEN_KEYS = {"access_token", "token_type", "expires_in"}
SUBJECTS = {
    "mfa_enabled": "two-step verification is on",
    "recovery_code_used": "a recovery code was used",
    "recovery_codes_renewed": "new recovery codes",
    "mfa_disabled": "two-step verification is off",
}


@pytest.fixture(scope="module")
def api() -> Iterator[Client]:
    env = {
        "EMAIL_VERIFICATION": "required",
        "MFA": "optional",
        "MAX_FAILED_LOGINS": str(MAX_FAILED_LOGINS),
        "LOCKOUT_SECONDS": str(LOCKOUT_SECONDS),
        "MAX_EMAILS_PER_HOUR": "20",
    }
    with running_local_api(env) as base_url:
        yield Client(base_url)


# -- helpers ----------------------------------------------------------------------------


@dataclass
class MfaAccount:
    email: str
    device: Device  # logged in with the password, before MFA was turned on
    enrolled: mfa.Enrolled

    @property
    def app(self) -> mfa.Authenticator:
        return self.enrolled.authenticator

    @property
    def recovery_codes(self) -> list[str]:
        return self.enrolled.recovery_codes


def mfa_account(api: Client, name: str) -> MfaAccount:
    email = verified_account(api, name, PASSWORD)
    device = logged_in_device(api, email, PASSWORD, PHONE)
    return MfaAccount(email, device, mfa.enable_mfa(device, PASSWORD))


def assert_error(reply: Reply, status: int, error: str) -> None:
    assert (reply.status, reply.json().get("error")) == (status, error), reply.raw


def assert_locked(reply: Reply) -> None:
    assert_error(reply, 429, "too_many_attempts")
    assert 0 < int(reply.headers["Retry-After"]) <= LOCKOUT_SECONDS, dict(reply.headers)


def assert_token_response(reply: Reply, *, delivery: str = "cookie") -> dict[str, Any]:
    assert reply.status == 200, reply.raw
    body: dict[str, Any] = reply.json()
    if delivery == "cookie":
        assert set(body) == TOKEN_KEYS, body
        assert len(reply.cookies()) == 1, reply.cookies()
        assert reply.refresh_cookie()
    else:
        assert set(body) == TOKEN_KEYS | {"refresh_token", "refresh_expires_in"}, body
        assert reply.cookies() == []
    assert body["token_type"] == "Bearer"
    return body


def assert_factors(access_token: str, amr: list[str], acr: str) -> None:
    claims = claims_of(access_token)
    assert (claims["amr"], claims["acr"]) == (amr, acr), claims


def subjects(api: Client, email: str) -> list[str]:
    """The subjects of every mail to the address so far (the queue drained first)."""
    settle(api)
    return [str(m["subject"]) for m in messages(api, email)]


def notice_count(api: Client, email: str, kind: str) -> int:
    return sum(SUBJECTS[kind] in subject for subject in subjects(api, email))


def login_verified_with(
    api: Client, email: str, *, user_agent: str = LAPTOP, **factor: str
) -> tuple[Device, Reply]:
    """A new device: the password, then the factor at verify."""
    device = Device(api, user_agent)
    token = mfa.mfa_token(api, email, PASSWORD)
    return device, mfa.verify(device, token, **factor)


# -- enrolment, login, verify -----------------------------------------------------------


def test_enrol_with_a_key_uri_confirm_with_a_real_code_and_log_in_with_it(api: Client) -> None:
    email = verified_account(api, "enrol", PASSWORD)
    device = logged_in_device(api, email, PASSWORD, PHONE)
    assert_factors(str(device.access_token), ["pwd"], "aal1")
    me = device.call("GET", "/me")
    assert me.status == 200, me.raw
    # GET /me keeps the contract's four fields; the session's acr is in the token.
    assert set(me.json()) == {"user_id", "email", "email_verified", "roles"}

    assert_error(mfa.enroll(device, WRONG), 401, "invalid_credentials")  # counted: 1
    started = mfa.enroll(device, PASSWORD)
    assert started.status == 200, started.raw
    assert started.cookies() == []
    enrollment = started.json()
    assert set(enrollment) == {"secret", "otpauth_uri"}
    secret = enrollment["secret"]
    assert len(secret) == 32, secret
    assert BASE32.match(secret), secret
    assert mfa.secret_bits(secret) == 160
    uri = mfa.parse_key_uri(enrollment["otpauth_uri"])
    assert (uri.kind, uri.secret, uri.issuer) == ("totp", secret, ISSUER_NAME)
    assert (uri.algorithm, uri.digits, uri.period) == ("SHA1", 6, 30)
    assert uri.label == f"{ISSUER_NAME}:{email}"
    # An authenticator app reading the URI shows the codes the test computes.
    parsed = pyotp.parse_uri(enrollment["otpauth_uri"])
    assert isinstance(parsed, pyotp.TOTP)
    app = mfa.Authenticator(secret)
    assert parsed.now() == pyotp.TOTP(secret).now()

    # Nothing is on yet: the password alone still logs in.
    plain = mfa.log_in(api, email, PASSWORD)
    assert_token_response(plain)
    assert_factors(plain.json()["access_token"], ["pwd"], "aal1")

    assert_error(mfa.confirm(device, app.wrong_code()), 400, "invalid_code")
    confirmed = mfa.confirm(device, app.code())
    assert confirmed.status == 200, confirmed.raw
    codes = confirmed.json()["recovery_codes"]
    assert set(confirmed.json()) == {"recovery_codes"}
    assert len(codes) == 10, codes
    assert len(set(codes)) == 10, codes
    assert all(RECOVERY_CODE.match(code) for code in codes), codes  # 16 random chars: 80 bits
    assert_error(mfa.confirm(device, app.code_of(app.last_step)), 409, "mfa_already_enabled")
    assert_error(mfa.enroll(device, PASSWORD), 409, "mfa_already_enabled")
    (enabled,) = [
        m for m in wait_for_mail(api, email, count=2) if SUBJECTS["mfa_enabled"] in m["subject"]
    ]
    assert enabled["tokens"] == []

    # The password now answers mfa_required: no tokens, no cookie.
    login = mfa.log_in(api, email, PASSWORD)
    assert login.status == 200, login.raw
    answer = login.json()
    assert set(answer) == {"mfa_required", "mfa_token", "expires_in"}, answer
    assert (answer["mfa_required"], answer["expires_in"]) == (True, 300)
    assert login.cookies() == []
    header, claims = mfa.unverified_segments(answer["mfa_token"])
    assert (header["alg"], header["typ"]) == ("ES256", "mfa+jwt")
    assert claims["aud"].endswith(":mfa")
    assert (claims["purpose"], claims["amr"]) == ("verify", ["pwd"])
    assert claims["exp"] - claims["iat"] == 300

    laptop = Device(api, LAPTOP)
    code = app.code()
    verified = mfa.verify(laptop, answer["mfa_token"], code=code)
    assert_token_response(verified)
    assert_factors(str(laptop.access_token), ["pwd", "otp"], "aal2")
    me = laptop.call("GET", "/me")
    assert me.status == 200, me.raw
    # GET /me keeps the contract's four fields; the session's acr is in the token.
    assert set(me.json()) == {"user_id", "email", "email_verified", "roles"}
    # A session keeps how it was opened: refreshed tokens say the same.
    refreshed = laptop.refresh()
    assert refreshed.status == 200, refreshed.raw
    assert_factors(str(laptop.access_token), ["pwd", "otp"], "aal2")
    assert (
        claims_of(str(laptop.access_token))["sid"]
        == claims_of(verified.json()["access_token"])["sid"]
    )

    # The same code on another login: refused (used once), no cookie.
    replayed = mfa.verify(Device(api, PHONE), mfa.mfa_token(api, email, PASSWORD), code=code)
    assert_error(replayed, 401, "invalid_credentials")
    assert replayed.cookies() == []


def test_a_recovery_code_works_once_in_any_case_and_sends_a_notice(api: Client) -> None:
    user = mfa_account(api, "recovery")
    first, second = user.recovery_codes[:2]
    device, reply = login_verified_with(api, user.email, recovery_code=first.upper())
    assert_token_response(reply)
    assert_factors(str(device.access_token), ["pwd", "mfa"], "aal2")
    assert device.refresh().status == 200
    assert_factors(str(device.access_token), ["pwd", "mfa"], "aal2")
    _, again = login_verified_with(api, user.email, recovery_code=first)
    assert_error(again, 401, "invalid_credentials")
    _, spaced = login_verified_with(api, user.email, recovery_code=second.replace("-", " "))
    assert_token_response(spaced)
    assert notice_count(api, user.email, "recovery_code_used") == 2


def test_the_mfa_token_is_refused_by_the_authorizer_and_by_refresh(api: Client) -> None:
    user = mfa_account(api, "mfa-token")
    token = mfa.mfa_token(api, user.email, PASSWORD)
    bearer = {"Authorization": f"Bearer {token}"}
    for method, path in (("GET", "/me"), ("GET", "/auth/sessions")):
        denied = api.send(method, path, headers=bearer)
        assert (denied.status, denied.json()) == (403, {"message": "Forbidden"}), denied.raw
    as_body = api.call("POST", "/auth/refresh", {"refresh_token": token})
    assert_error(as_body, 401, "invalid_token")
    assert as_body.cookies() == []
    as_cookie = Device(api, LAPTOP, refresh_token=token).refresh()
    assert_error(as_cookie, 401, "invalid_token")
    # ... and is still good for what it is for, once.
    assert_token_response(mfa.verify(Device(api, LAPTOP), token, code=user.app.code()))
    again = mfa.verify(Device(api, LAPTOP), token, recovery_code=user.recovery_codes[0])
    assert_error(again, 401, "invalid_token")


def test_a_password_reset_does_not_bypass_the_second_factor(api: Client) -> None:
    user = mfa_account(api, "reset")
    before = mfa.mfa_token(api, user.email, PASSWORD)
    forgot = api.call("POST", "/auth/password/forgot", {"email": user.email})
    assert forgot.status == 202, forgot.raw
    settle(api)
    link = [m for m in messages(api, user.email) if m["tokens"]][-1]["tokens"][0]
    reset = api.call("POST", "/auth/password/reset", {"token": link, "password": NEW_PASSWORD})
    assert reset.status == 204, reset.raw
    # The login the reset interrupted does not go on.
    assert_error(
        mfa.verify(Device(api, LAPTOP), before, code=user.app.code()), 401, "invalid_token"
    )
    assert_error(mfa.log_in(api, user.email, PASSWORD), 401, "invalid_credentials")
    login = mfa.log_in(api, user.email, NEW_PASSWORD)
    assert login.status == 200, login.raw
    assert login.json()["mfa_required"] is True
    assert login.cookies() == []
    laptop = Device(api, LAPTOP)
    assert_token_response(mfa.verify(laptop, login.json()["mfa_token"], code=user.app.code()))
    assert_factors(str(laptop.access_token), ["pwd", "otp"], "aal2")


def test_renewed_recovery_codes_replace_the_old_ones(api: Client) -> None:
    user = mfa_account(api, "renew")
    device, app = user.device, user.app
    without = device.call("POST", mfa.RECOVERY_CODES, {"password": PASSWORD})
    assert_error(without, 400, "invalid_request")
    both = mfa.with_factor(PASSWORD, code="123456", recovery_code=user.recovery_codes[0])
    assert_error(device.call("POST", mfa.RECOVERY_CODES, both), 400, "invalid_request")
    # A wrong password with the right code, and the right password with a wrong code:
    # the same answer (each a failed login); the code was not spent by the first.
    upcoming = app.code_of(app.next_step())
    wrong_password = device.call("POST", mfa.RECOVERY_CODES, mfa.with_factor(WRONG, code=upcoming))
    wrong_code = device.call(
        "POST", mfa.RECOVERY_CODES, mfa.with_factor(PASSWORD, code=app.wrong_code())
    )
    assert_error(wrong_password, 401, "invalid_credentials")
    assert (wrong_code.status, wrong_code.raw) == (wrong_password.status, wrong_password.raw)
    renewed = device.call("POST", mfa.RECOVERY_CODES, mfa.with_factor(PASSWORD, code=app.code()))
    assert renewed.status == 200, renewed.raw
    fresh = renewed.json()["recovery_codes"]
    assert len(fresh) == 10, fresh
    assert not set(fresh) & set(user.recovery_codes), fresh
    assert all(RECOVERY_CODE.match(code) for code in fresh)
    _, old = login_verified_with(api, user.email, recovery_code=user.recovery_codes[1])
    assert_error(old, 401, "invalid_credentials")
    laptop, new = login_verified_with(api, user.email, recovery_code=fresh[0])
    assert_token_response(new)
    assert_factors(str(laptop.access_token), ["pwd", "mfa"], "aal2")
    # Renewing with a recovery code spends it.
    again = device.call(
        "POST", mfa.RECOVERY_CODES, mfa.with_factor(PASSWORD, recovery_code=fresh[1])
    )
    assert again.status == 200, again.raw
    _, spent = login_verified_with(api, user.email, recovery_code=fresh[2])
    assert_error(spent, 401, "invalid_credentials")  # the second renewal ended it too
    assert notice_count(api, user.email, "recovery_codes_renewed") == 2


def test_turning_mfa_off_needs_both_factors_and_ends_the_other_sessions(api: Client) -> None:
    user = mfa_account(api, "disable")
    phone, app = user.device, user.app
    laptop = mfa.mfa_logged_in_device(api, user.email, PASSWORD, LAPTOP, app)
    off = "/auth/mfa"
    assert_error(phone.call("DELETE", off, {"password": PASSWORD}), 400, "invalid_request")
    upcoming = app.code_of(app.next_step())
    assert_error(
        phone.call("DELETE", off, mfa.with_factor(WRONG, code=upcoming)), 401, "invalid_credentials"
    )
    assert_error(
        phone.call("DELETE", off, mfa.with_factor(PASSWORD, code=app.wrong_code())),
        401,
        "invalid_credentials",
    )
    assert laptop.refresh().status == 200  # nothing changed yet
    pending = mfa.mfa_token(api, user.email, PASSWORD)  # a login half-way through
    disabled = phone.call("DELETE", off, mfa.with_factor(PASSWORD, code=app.code()))
    assert disabled.status == 204, disabled.raw
    assert (disabled.raw, disabled.cookies()) == (b"", [])
    assert_error(laptop.refresh(), 401, "invalid_token")
    assert phone.refresh().status == 200
    # The login begun before does not go on with the factor that is gone.
    late = mfa.verify(Device(api, LAPTOP), pending, recovery_code=user.recovery_codes[0])
    assert_error(late, 401, "invalid_token")
    assert_error(
        phone.call("DELETE", off, mfa.with_factor(PASSWORD, code="123456")), 409, "mfa_not_enabled"
    )
    renew = phone.call("POST", mfa.RECOVERY_CODES, mfa.with_factor(PASSWORD, code="123456"))
    assert_error(renew, 409, "mfa_not_enabled")
    # The password alone logs in again, at aal1; the old recovery codes are gone.
    plain = mfa.log_in(api, user.email, PASSWORD)
    assert_token_response(plain)
    assert_factors(plain.json()["access_token"], ["pwd"], "aal1")
    assert notice_count(api, user.email, "mfa_disabled") == 1


# -- the lock-out -----------------------------------------------------------------------


def test_wrong_codes_count_toward_the_lockout_even_against_the_right_code(api: Client) -> None:
    user = mfa_account(api, "lockout")
    token = mfa.mfa_token(api, user.email, PASSWORD)
    device = Device(api, LAPTOP)
    for _ in range(MAX_FAILED_LOGINS):
        wrong = mfa.verify(device, token, code=user.app.wrong_code())
        assert_error(wrong, 401, "invalid_credentials")
    assert_locked(mfa.verify(device, token, code=user.app.code()))
    assert_locked(mfa.verify(device, token, recovery_code=user.recovery_codes[0]))
    assert_locked(mfa.log_in(api, user.email, PASSWORD))
    assert (device.refresh_token, device.access_token) == (None, None)


def test_the_right_password_alone_does_not_clear_earlier_failures(api: Client) -> None:
    user = mfa_account(api, "lockout-pwd")
    for _ in range(MAX_FAILED_LOGINS - 1):
        assert_error(mfa.log_in(api, user.email, WRONG), 401, "invalid_credentials")
    token = mfa.mfa_token(api, user.email, PASSWORD)  # not counted, and clears nothing
    # so one more wrong password is the last one left
    assert_error(mfa.log_in(api, user.email, WRONG), 401, "invalid_credentials")
    # and the email is locked: the code too (the right one), from the mfa_token taken before
    assert_locked(mfa.verify(Device(api, LAPTOP), token, code=user.app.code()))
    assert_locked(mfa.log_in(api, user.email, PASSWORD))


def test_the_right_password_alone_does_not_clear_earlier_wrong_codes(api: Client) -> None:
    """Wrong codes are counted on the account, apart from wrong passwords: fresh logins
    with the right password between them give back no guesses."""
    user = mfa_account(api, "lockout-codes")
    for _ in range(MAX_FAILED_LOGINS):
        token = mfa.mfa_token(api, user.email, PASSWORD)
        assert_error(
            mfa.verify(Device(api, LAPTOP), token, code=user.app.wrong_code()),
            401,
            "invalid_credentials",
        )
    assert_locked(mfa.verify(Device(api, LAPTOP), token, code=user.app.code()))
    assert_locked(mfa.log_in(api, user.email, PASSWORD))


def test_a_verified_login_clears_the_failures(api: Client) -> None:
    user = mfa_account(api, "lockout-clear")

    def fail_all_but_one_of_each() -> None:
        for _ in range(MAX_FAILED_LOGINS - 1):
            assert_error(mfa.log_in(api, user.email, WRONG), 401, "invalid_credentials")
            token = mfa.mfa_token(api, user.email, PASSWORD)
            wrong = mfa.verify(Device(api, LAPTOP), token, code=user.app.wrong_code())
            assert_error(wrong, 401, "invalid_credentials")

    fail_all_but_one_of_each()
    _, reply = login_verified_with(api, user.email, code=user.app.code())
    assert_token_response(reply)
    # Both counts start again: as many failures as before are allowed once more.
    fail_all_but_one_of_each()
    _, reply = login_verified_with(api, user.email, recovery_code=user.recovery_codes[0])
    assert_token_response(reply)


# -- verify's request -------------------------------------------------------------------


def test_the_refresh_token_goes_where_the_login_asked_unless_verify_says(api: Client) -> None:
    user = mfa_account(api, "delivery")
    body_login = mfa.mfa_token(api, user.email, PASSWORD, delivery="body")
    reply = mfa.verify(Device(api, LAPTOP), body_login, code=user.app.code())
    grant = assert_token_response(reply, delivery="body")
    assert 0 < grant["refresh_expires_in"] <= 7776000
    again = api.call("POST", "/auth/refresh", {"refresh_token": grant["refresh_token"]})
    assert_token_response(again, delivery="body")
    assert_factors(again.json()["access_token"], ["pwd", "otp"], "aal2")

    cookie_login = mfa.mfa_token(api, user.email, PASSWORD)  # the default: cookie
    assert_token_response(
        mfa.verify(Device(api, LAPTOP), cookie_login, recovery_code=user.recovery_codes[0])
    )
    overridden = mfa.mfa_token(api, user.email, PASSWORD, delivery="body")
    device = Device(api, LAPTOP)
    reply = mfa.verify(device, overridden, code=user.app.code(), delivery="cookie")
    assert_token_response(reply, delivery="cookie")
    assert device.refresh().status == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": "123456", "recovery_code": "abcd-efgh-ijkl-mnop-qrst"},
        {"code": 123456},
        {"recovery_code": ["abcd-efgh-ijkl-mnop-qrst"]},
        {"code": "123456", "refresh_token_delivery": "carrier-pigeon"},
    ],
    ids=[
        "no-factor",
        "both-factors",
        "code-not-a-string",
        "recovery-code-not-a-string",
        "bad-delivery",
    ],
)
def test_verify_needs_exactly_one_factor_of_the_right_type(
    api: Client, body: dict[str, Any]
) -> None:
    user = mfa_account(api, "verify-400")
    token = mfa.mfa_token(api, user.email, PASSWORD)
    reply = api.call("POST", mfa.VERIFY, {"mfa_token": token, **body})
    assert_error(reply, 400, "invalid_request")
    # Refused before any check: nothing counted, the token still works.
    assert_token_response(mfa.verify(Device(api, LAPTOP), token, code=user.app.code()))


def test_a_malformed_mfa_token_is_invalid_token_and_an_absurd_one_invalid_request(
    api: Client,
) -> None:
    for token in ("not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.e30."):
        reply = api.call("POST", mfa.VERIFY, {"mfa_token": token, "code": "123456"})
        assert_error(reply, 401, "invalid_token")
    for token in ("", "x" * 9000):  # empty, or over 8 KiB: not a token at all
        reply = api.call("POST", mfa.VERIFY, {"mfa_token": token, "code": "123456"})
        assert_error(reply, 400, "invalid_request")


# -- enrolment rules --------------------------------------------------------------------


def test_a_new_enrolment_replaces_a_pending_one_and_confirm_needs_one(api: Client) -> None:
    email = verified_account(api, "re-enrol", PASSWORD)
    device = logged_in_device(api, email, PASSWORD, PHONE)
    assert_error(mfa.confirm(device, "123456"), 409, "mfa_not_enrolling")
    first = mfa.enroll(device, PASSWORD).json()["secret"]
    second = mfa.enroll(device, PASSWORD).json()["secret"]
    assert first != second
    stale = mfa.Authenticator(first)
    assert_error(mfa.confirm(device, stale.code()), 400, "invalid_code")
    app = mfa.Authenticator(second)
    assert mfa.confirm(device, app.code()).status == 200
    assert mfa.log_in(api, email, PASSWORD).json()["mfa_required"] is True
    _, reply = login_verified_with(api, email, code=app.code())
    assert_token_response(reply)


# -- refusals ---------------------------------------------------------------------------


@dataclass
class Case:
    """One state-changing route: the device and body to call it with, and the check that
    a refused call changed nothing."""

    device: Device
    body: dict[str, Any]
    unchanged: Callable[[], None]


def _enroll_case(api: Client) -> Case:
    email = verified_account(api, "refuse-enroll", PASSWORD)
    device = logged_in_device(api, email, PASSWORD, PHONE)

    def unchanged() -> None:
        assert_error(mfa.confirm(device, "123456"), 409, "mfa_not_enrolling")

    return Case(device, {"password": PASSWORD}, unchanged)


def _confirm_case(api: Client) -> Case:
    email = verified_account(api, "refuse-confirm", PASSWORD)
    device = logged_in_device(api, email, PASSWORD, PHONE)
    app = mfa.Authenticator(mfa.enroll(device, PASSWORD).json()["secret"])
    code = app.code()

    def unchanged() -> None:
        assert_token_response(mfa.log_in(api, email, PASSWORD))  # still off
        assert mfa.confirm(device, code).status == 200  # and the code still confirms

    return Case(device, {"code": code}, unchanged)


def _verify_case(api: Client) -> Case:
    user = mfa_account(api, "refuse-verify")
    token = mfa.mfa_token(api, user.email, PASSWORD)
    code = user.app.code()

    def unchanged() -> None:
        assert_token_response(mfa.verify(Device(api, LAPTOP), token, code=code))

    return Case(Device(api, LAPTOP), mfa.verify_body(token, code=code), unchanged)


def _recovery_codes_case(api: Client) -> Case:
    user = mfa_account(api, "refuse-renew")
    code = user.recovery_codes[0]

    def unchanged() -> None:
        _, reply = login_verified_with(api, user.email, recovery_code=user.recovery_codes[1])
        assert_token_response(reply)  # the old set stands, the code sent unspent
        renewed = user.device.call(
            "POST", mfa.RECOVERY_CODES, mfa.with_factor(PASSWORD, recovery_code=code)
        )
        assert renewed.status == 200, renewed.raw

    return Case(user.device, mfa.with_factor(PASSWORD, recovery_code=code), unchanged)


def _disable_case(api: Client) -> Case:
    user = mfa_account(api, "refuse-disable")
    code = user.recovery_codes[0]

    def unchanged() -> None:
        assert mfa.log_in(api, user.email, PASSWORD).json()["mfa_required"] is True
        assert user.device.refresh().status == 200

    return Case(user.device, mfa.with_factor(PASSWORD, recovery_code=code), unchanged)


REFUSED: list[tuple[str, str, Callable[[Client], Case]]] = [
    ("POST", mfa.ENROLL, _enroll_case),
    ("POST", mfa.CONFIRM, _confirm_case),
    ("POST", mfa.VERIFY, _verify_case),
    ("POST", mfa.RECOVERY_CODES, _recovery_codes_case),
    ("DELETE", mfa.DISABLE, _disable_case),
]


@pytest.mark.parametrize(
    ("method", "path", "case"), REFUSED, ids=[f"{m} {p}" for m, p, _ in REFUSED]
)
def test_the_new_routes_refuse_cross_site_calls_and_other_content_types(
    api: Client, method: str, path: str, case: Callable[[Client], Case]
) -> None:
    made = case(api)
    auth = path != mfa.VERIFY
    # Both signs of another site, and each alone (a browser may send only one).
    for headers in (EVIL, {"Origin": EVIL["Origin"]}, {"Sec-Fetch-Site": "cross-site"}):
        cross_site = made.device.call(method, path, made.body, auth=auth, headers=headers)
        assert_error(cross_site, 403, "cross_site_request")
        assert cross_site.cookies() == []
    # A text/plain form posted from another site: refused by either rule.
    form = api.send(
        method,
        path,
        json.dumps(made.body).encode(),
        made.device.headers(auth=auth, extra={"Content-Type": "text/plain", **EVIL}),
    )
    assert (form.status, form.json().get("error")) in {
        (403, "cross_site_request"),
        (415, "unsupported_media_type"),
    }, form.raw
    assert form.cookies() == []
    plain = api.send(
        method,
        path,
        json.dumps(made.body).encode(),
        made.device.headers(auth=auth, extra={"Content-Type": "text/plain"}),
    )
    assert_error(plain, 415, "unsupported_media_type")
    assert plain.cookies() == []
    made.unchanged()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", mfa.ENROLL),
        ("POST", mfa.CONFIRM),
        ("POST", mfa.RECOVERY_CODES),
        ("DELETE", mfa.DISABLE),
    ],
)
def test_the_new_routes_without_a_token_answer_401_from_the_gateway(
    api: Client, method: str, path: str
) -> None:
    reply = api.send(method, path, b"{}", {"Content-Type": "application/json"})
    assert (reply.status, reply.json()) == (401, {"message": "Unauthorized"}), reply.raw
    assert reply.cookies() == []


# -- MFA=required -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def required_api() -> Iterator[Client]:
    env = {"MFA": "required", "MAX_FAILED_LOGINS": str(MAX_FAILED_LOGINS)}
    with running_local_api(env) as base_url:
        yield Client(base_url)


def test_with_mfa_required_an_account_enrols_at_its_next_login(required_api: Client) -> None:
    api = required_api
    email = verified_account(api, "required", PASSWORD)
    assert_error(mfa.log_in(api, email, WRONG), 401, "invalid_credentials")
    login = mfa.log_in(api, email, PASSWORD)
    assert login.status == 200, login.raw
    answer = login.json()
    assert set(answer) == {"mfa_enrollment_required", "mfa_token", "expires_in"}, answer
    assert (answer["mfa_enrollment_required"], answer["expires_in"]) == (True, 300)
    assert login.cookies() == []
    assert mfa.unverified_segments(answer["mfa_token"])[1]["purpose"] == "enroll"
    # The token opens the two enrolment routes and nothing else.
    enrolling = Device(api, PHONE, access_token=answer["mfa_token"])
    denied = enrolling.call("GET", "/me")
    assert (denied.status, denied.json()) == (403, {"message": "Forbidden"})
    started = mfa.enroll(enrolling, PASSWORD)
    assert started.status == 200, started.raw
    app = mfa.Authenticator(started.json()["secret"])
    confirmed = mfa.confirm(enrolling, app.code())
    assert confirmed.status == 200, confirmed.raw
    assert len(confirmed.json()["recovery_codes"]) == 10
    # Then the client logs in again: the password, then a code.
    device = Device(api, PHONE)
    reply = mfa.verify(device, mfa.mfa_token(api, email, PASSWORD), code=app.code())
    assert_token_response(reply)
    assert_factors(str(device.access_token), ["pwd", "otp"], "aal2")
    assert device.call("GET", "/me").status == 200
