"""Two-step verification in the demo app (/demo), in headless Chromium (issue 14): sign up
and verify from the mailbox, log in, enrol (the QR code of the otpauth URI drawn, the
secret shown), confirm with a code pyotp computes from the secret on the page, the ten
recovery codes shown once; log in with a code (a wrong one refused), with a recovery
code (a used one refused); new recovery codes; turn it off. Then MFA=required: the
login's enrolment step with its mfa_token, and the login again with a code. No page of
the flow breaks its Content-Security-Policy (the QR code is SVG elements, no data: URL).

Codes come from ``tests.support.mfa.Authenticator`` (pyotp, each code of a time step later
than the last one used, since the service accepts a step once).
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from localapi.testing import running_local_api
from tests.browser.support import (
    MAIL_TIMEOUT_SECONDS,
    PASSWORD,
    REFRESH_COOKIE,
    mail_link,
    require_chromium,
    verified_account,
)
from tests.support.local_mail import unique_address
from tests.support.mfa import Authenticator, parse_key_uri, secret_bits

require_chromium()

import pyotp  # noqa: E402
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.xdist_group("browser-demo")]
RECOVERY_CODE = re.compile(r"^[a-z2-7]{4}(-[a-z2-7]{4}){4}$")


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    with running_local_api({"EMAIL_VERIFICATION": "required", "MFA": "optional"}) as url:
        yield str(url)


@pytest.fixture(scope="module")
def required_api() -> Iterator[str]:
    with running_local_api({"EMAIL_VERIFICATION": "required", "MFA": "required"}) as url:
        yield str(url)


def watched_page(context: BrowserContext, problems: list[str]) -> Page:
    """A page whose console errors (a CSP violation among them) land in ``problems``."""
    page = context.new_page()

    def record(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            problems.append(message.text)

    page.on("console", record)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    return page


def refresh_cookie(context: BrowserContext) -> dict[str, object] | None:
    return next((dict(c) for c in context.cookies() if c["name"] == REFRESH_COOKIE), None)


def submit_login(page: Page, email: str, password: str = PASSWORD) -> None:
    expect(page.locator("#status")).to_have_text("Signed out")
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    page.click("#login-form button")


def second_step(page: Page, code: str) -> None:
    expect(page.locator("#status")).to_have_text("Two-step verification")
    page.fill("#mfa-login-code", code)
    page.click("#mfa-login-form button")


def me(page: Page) -> dict[str, object]:
    """GET /me as the page shows it, with the session's amr and acr (which the page reads
    from its access token)."""
    shown = dict(json.loads(page.locator("#me").inner_text()))
    assurance = page.locator("#assurance")
    amr = (assurance.get_attribute("data-amr") or "").split()
    return {**shown, "acr": assurance.get_attribute("data-acr"), "amr": amr}


def log_out(page: Page) -> None:
    page.click("#logout")
    expect(page.locator("#status")).to_have_text("Signed out")


def mail_subjects(api: str, email: str, wanted: str) -> list[str]:
    """The subjects of the mails to ``email``, once one of them contains ``wanted``."""
    query = urllib.parse.urlencode({"to": email})
    deadline = time.monotonic() + MAIL_TIMEOUT_SECONDS
    while True:
        with urllib.request.urlopen(f"{api}/_localapi/mail?{query}", timeout=30) as reply:  # noqa: S310
            subjects = [str(m["subject"]) for m in json.loads(reply.read())["messages"]]
        if any(wanted in subject for subject in subjects):
            return subjects
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail {wanted!r} to {email}: {subjects!r}")
        time.sleep(0.05)


def enrol(page: Page, email: str, password: str = PASSWORD) -> tuple[Authenticator, list[str]]:
    """Set up two-step verification from the page on screen: the QR code is drawn, the
    secret is the URI's; confirm with a code; the recovery codes, read and put away."""
    page.fill("#mfa-enrol-password", password)
    page.click("#mfa-enrol-form button")
    expect(page.locator("#mfa-enrol-secret")).to_be_visible()
    qr = page.locator("#mfa-qr svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None
    assert box["width"] > 100
    assert box["height"] > 100
    assert len(str(page.locator("#mfa-qr svg path").get_attribute("d"))) > 1000  # modules
    secret = page.locator("#mfa-secret").inner_text().strip()
    uri = page.locator("#mfa-uri").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]+", secret), secret
    assert secret_bits(secret) == 160
    key = parse_key_uri(uri)
    assert (key.kind, key.secret, key.algorithm, key.digits, key.period) == (
        "totp",
        secret,
        "SHA1",
        6,
        30,
    )
    assert email in key.label
    # What an app makes of the URI: pyotp's reading gives the same codes.
    read = pyotp.parse_uri(uri)
    assert isinstance(read, pyotp.TOTP)
    assert read.at(1_700_000_000) == pyotp.TOTP(secret).at(1_700_000_000)

    phone = Authenticator(secret)
    page.fill("#mfa-confirm-code", phone.code())
    page.click("#mfa-confirm-form button")
    items = page.locator("#mfa-recovery-codes li")
    expect(items).to_have_count(10)
    codes = [text.strip() for text in items.all_inner_texts()]
    assert all(RECOVERY_CODE.fullmatch(code) for code in codes), codes
    assert len(set(codes)) == 10
    # The secret left the page; the codes go too once put away.
    expect(page.locator("#mfa-enrol-secret")).to_be_hidden()
    assert page.locator("#mfa-secret").inner_text() == ""
    page.click("#mfa-codes-done")
    expect(page.locator("#mfa-codes")).to_be_hidden()
    expect(items).to_have_count(0)
    return phone, codes


def test_enrol_log_in_with_a_code_and_a_recovery_code_renew_and_turn_off(
    browser: Browser, api: str
) -> None:
    email = unique_address("mfa-demo")
    problems: list[str] = []
    context = browser.new_context()
    try:
        page = watched_page(context, problems)
        page.goto(f"{api}/demo")
        # Sign up and verify from the mailbox, log in: one factor, aal1.
        expect(page.locator("#status")).to_have_text("Signed out")
        page.fill("#signup-email", email)
        page.fill("#signup-password", PASSWORD)
        page.click("#signup-form button")
        expect(page.locator("#message")).to_contain_text("Check your mail")
        page.goto(mail_link(api, email, "/verify-email"))
        page.click("#verify-form button")
        expect(page.locator("#message")).to_contain_text("is verified")
        page.goto(f"{api}/demo")
        submit_login(page, email)
        expect(page.locator("#status")).to_have_text(f"Signed in as {email}")
        assert me(page)["amr"] == ["pwd"]
        assert me(page)["acr"] == "aal1"
        expect(page.locator("#mfa-state")).to_contain_text("Off")

        # Enrol: QR code, secret, confirm, ten recovery codes; a notice is mailed.
        phone, codes = enrol(page, email)
        expect(page.locator("#mfa-state")).to_contain_text("On")
        expect(page.locator("#mfa-manage")).to_be_visible()
        mail_subjects(api, email, "two-step verification is on")
        log_out(page)

        # The password alone no longer logs in: no tokens, no cookie, the code step.
        submit_login(page, email)
        expect(page.locator("#status")).to_have_text("Two-step verification")
        assert refresh_cookie(context) is None
        second_step(page, phone.wrong_code())
        expect(page.locator("#message")).to_contain_text("401 invalid_credentials")
        expect(page.locator("#status")).to_have_text("Two-step verification")
        second_step(page, phone.code())
        expect(page.locator("#status")).to_have_text(f"Signed in as {email}")
        assert me(page)["amr"] == ["pwd", "otp"]
        assert me(page)["acr"] == "aal2"
        assert refresh_cookie(context) is not None
        # A reload refreshes: the session keeps how it was opened.
        page.reload()
        expect(page.locator("#status")).to_have_text(f"Signed in as {email}")
        assert me(page)["amr"] == ["pwd", "otp"]
        expect(page.locator("#mfa-state")).to_contain_text("On")
        log_out(page)

        # A recovery code, typed in capitals without its dashes: amr "mfa", a notice.
        submit_login(page, email)
        second_step(page, codes[0].replace("-", "").upper())
        expect(page.locator("#status")).to_have_text(f"Signed in as {email}")
        assert me(page)["amr"] == ["pwd", "mfa"]
        assert me(page)["acr"] == "aal2"
        mail_subjects(api, email, "a recovery code was used")
        log_out(page)

        # A used recovery code is refused; another one works.
        submit_login(page, email)
        second_step(page, codes[0])
        expect(page.locator("#message")).to_contain_text("401 invalid_credentials")
        second_step(page, codes[1])
        expect(page.locator("#status")).to_have_text(f"Signed in as {email}")

        # New recovery codes (password and a recovery code): ten others.
        page.fill("#mfa-renew-password", PASSWORD)
        page.fill("#mfa-renew-code", codes[2])
        page.click("#mfa-renew-form button")
        renewed = page.locator("#mfa-recovery-codes li")
        expect(renewed).to_have_count(10)
        fresh = [text.strip() for text in renewed.all_inner_texts()]
        assert not set(fresh) & set(codes)
        page.click("#mfa-codes-done")
        mail_subjects(api, email, "new recovery codes")

        # Turn it off with the password and a code: a notice; the password alone logs in.
        page.fill("#mfa-disable-password", PASSWORD)
        page.fill("#mfa-disable-code", phone.code())
        page.click("#mfa-disable-form button")
        expect(page.locator("#message")).to_contain_text("Two-step verification is off")
        expect(page.locator("#mfa-state")).to_contain_text("Off")
        expect(page.locator("#mfa-enrol")).to_be_visible()
        mail_subjects(api, email, "two-step verification is off")
        log_out(page)
        submit_login(page, email)
        expect(page.locator("#status")).to_have_text(f"Signed in as {email}")
        assert me(page)["amr"] == ["pwd"]
        assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    finally:
        context.close()
    assert not problems, problems


def test_mfa_required_enrols_at_login_then_asks_for_a_code(
    browser: Browser, required_api: str
) -> None:
    email = unique_address("mfa-demo")
    verified_account(required_api, email)
    problems: list[str] = []
    context = browser.new_context()
    try:
        page = watched_page(context, problems)
        page.goto(f"{required_api}/demo")
        # The right password answers mfa_enrollment_required: only the enrolment shows.
        submit_login(page, email)
        expect(page.locator("#status")).to_have_text("Set up two-step verification")
        expect(page.locator("#signed-in-view")).to_be_hidden()
        expect(page.locator("#mfa-manage")).to_be_hidden()
        assert refresh_cookie(context) is None
        phone, codes = enrol(page, email)
        # Enrolled: no session yet; log in again, with a code this time.
        expect(page.locator("#status")).to_have_text("Signed out")
        assert refresh_cookie(context) is None
        submit_login(page, email)
        second_step(page, phone.code())
        expect(page.locator("#status")).to_have_text(f"Signed in as {email}")
        assert me(page)["amr"] == ["pwd", "otp"]
        expect(page.locator("#mfa-state")).to_contain_text("On")
        assert len(codes) == 10
    finally:
        context.close()
    assert not problems, problems


def test_the_vendored_qr_library_is_served_under_the_demo_policy(api: str) -> None:
    with urllib.request.urlopen(f"{api}/demo/vendor/qrcode.js", timeout=30) as reply:  # noqa: S310
        assert reply.headers["Content-Type"].startswith("text/javascript")
        assert "script-src 'self';" in reply.headers["Content-Security-Policy"]
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert b"QR Code Generator for JavaScript" in reply.read()
    for path in ("/demo/vendor/LICENSE", "/demo/vendor/README.md", "/demo/vendor/"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{api}{path}", timeout=30)  # noqa: S310
        assert refused.value.code == 404, path
