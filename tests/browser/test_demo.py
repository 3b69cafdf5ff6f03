"""The demo app (/demo) in headless Chromium, through every flow a user clicks
(issue 12 items 2 and 3): signup, the verification link from the local mailbox, login,
/me, the HttpOnly cookie, a reload that keeps the session, a second device listed and
ended, password change, log out everywhere, forgot and reset, logout and deletion; and
the automatic refresh (before expiry and on a 401) and the page's security headers.

One local API for the module; each test has addresses of its own.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from localapi.testing import running_local_api
from tests.browser.support import (
    PASSWORD,
    REFRESH_COOKIE,
    mail_link,
    require_chromium,
    verified_account,
)
from tests.support.local_mail import unique_address

require_chromium()

from playwright.sync_api import BrowserContext, Page, Route, expect  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.xdist_group("browser-demo")]
NEW_PASSWORD = "a brand new passphrase, long enough"
RESET_PASSWORD = "the password chosen from the reset link"


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    with running_local_api({"EMAIL_VERIFICATION": "required"}) as url:
        yield str(url)


def open_demo(context: BrowserContext, api: str) -> Page:
    page = context.new_page()
    page.goto(f"{api}/demo")
    return page


def log_in(page: Page, email: str, password: str) -> None:
    expect(page.locator("#status")).to_have_text("Signed out")
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    page.click("#login-form button")
    expect(page.locator("#status")).to_have_text(f"Signed in as {email}")


def refresh_cookie(context: BrowserContext) -> dict[str, object] | None:
    return next((dict(c) for c in context.cookies() if c["name"] == REFRESH_COOKIE), None)


def test_every_flow_by_clicking(browser: Browser, api: str) -> None:
    email = unique_address("demo")
    first = browser.new_context(user_agent="first device")
    second = browser.new_context(user_agent="second device")
    try:
        page = open_demo(first, api)
        # Sign up; the mail's link opens the demo's verification view.
        expect(page.locator("#status")).to_have_text("Signed out")
        page.fill("#signup-email", email)
        page.fill("#signup-password", PASSWORD)
        page.click("#signup-form button")
        expect(page.locator("#message")).to_contain_text("Check your mail")
        link = mail_link(api, email, "/verify-email")
        assert link.startswith(f"{api}/demo/verify-email#token=")
        page.goto(link)
        assert "token" not in page.url  # taken from the fragment, then removed
        page.click("#verify-form button")
        expect(page.locator("#message")).to_contain_text("is verified")

        # Log in: /me shown; the refresh token only in the HttpOnly cookie.
        page.goto(f"{api}/demo")
        log_in(page, email, PASSWORD)
        expect(page.locator("#me")).to_contain_text(email)
        cookie = refresh_cookie(first)
        assert cookie is not None
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert cookie["secure"] is True
        assert REFRESH_COOKIE not in page.evaluate("document.cookie")
        assert page.evaluate("localStorage.length + sessionStorage.length") == 0

        # A reload loses the in-memory access token; the cookie restores the session.
        page.reload()
        expect(page.locator("#status")).to_have_text(f"Signed in as {email}")
        assert refresh_cookie(first) != cookie  # the refresh rotated it

        # A second context is a second session; the first lists it and ends it.
        other = open_demo(second, api)
        log_in(other, email, PASSWORD)
        page.click("#reload-sessions")
        sessions = page.locator("#sessions li")
        expect(sessions).to_have_count(2)
        expect(page.locator("#sessions li.current")).to_contain_text("first device")
        page.locator("#sessions li", has_text="second device").locator("button").click()
        expect(page.locator("#message")).to_have_text("Session ended.")
        expect(sessions).to_have_count(1)
        # The second's next refresh (its reload) fails: signed out.
        other.reload()
        expect(other.locator("#status")).to_have_text("Signed out")
        expect(other.locator("#message")).to_contain_text("401 invalid_token")

        # Password change keeps this session and ends the others.
        page.fill("#current-password", PASSWORD)
        page.fill("#new-password", NEW_PASSWORD)
        page.click("#change-form button")
        expect(page.locator("#message")).to_contain_text("Password changed")
        page.reload()
        expect(page.locator("#status")).to_have_text(f"Signed in as {email}")

        # Log out everywhere: both devices signed out, the cookie cleared.
        log_in(other, email, NEW_PASSWORD)
        page.click("#logout-all")
        expect(page.locator("#status")).to_have_text("Signed out")
        assert refresh_cookie(first) is None
        other.reload()
        expect(other.locator("#status")).to_have_text("Signed out")

        # Forgot and reset through the mail link; the old password no longer works.
        page.fill("#forgot-email", email)
        page.click("#forgot-form button")
        expect(page.locator("#message")).to_contain_text("reset link is on its way")
        page.goto(mail_link(api, email, "/reset-password"))
        assert "token" not in page.url
        page.fill("#reset-password", RESET_PASSWORD)
        page.click("#reset-form button")
        expect(page.locator("#message")).to_contain_text("Password set")
        page.goto(f"{api}/demo")
        page.fill("#login-email", email)
        page.fill("#login-password", NEW_PASSWORD)
        page.click("#login-form button")
        expect(page.locator("#message")).to_contain_text("401 invalid_credentials")
        log_in(page, email, RESET_PASSWORD)

        # Log out, log in again, delete the account.
        page.click("#logout")
        expect(page.locator("#status")).to_have_text("Signed out")
        assert refresh_cookie(first) is None
        log_in(page, email, RESET_PASSWORD)
        page.once("dialog", lambda dialog: dialog.accept())
        page.fill("#delete-password", RESET_PASSWORD)
        page.click("#delete-form button")
        expect(page.locator("#message")).to_have_text("Your account was deleted.")
        expect(page.locator("#status")).to_have_text("Signed out")
        page.fill("#login-email", email)
        page.fill("#login-password", RESET_PASSWORD)
        page.click("#login-form button")
        expect(page.locator("#message")).to_contain_text("401 invalid_credentials")
    finally:
        first.close()
        second.close()


def test_refreshes_before_expiry_and_on_401(browser: Browser, api: str) -> None:
    email = unique_address("demo")
    verified_account(api, email)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.clock.install()  # the page's timers, fast-forwarded below
        page.goto(f"{api}/demo")
        log_in(page, email, PASSWORD)

        # Shortly before the 900 s access token expires, the page refreshes on its own.
        with page.expect_response("**/auth/refresh") as refreshed:
            page.clock.fast_forward("14:30")
        assert refreshed.value.status == 200

        # A 401 from the API (an expired token): one refresh, then the call again.
        answered: list[bool] = []

        def expire_once(route: Route) -> None:
            if answered:
                route.continue_()
                return
            answered.append(True)
            route.fulfill(status=401, json={"message": "Unauthorized"})

        page.route("**/auth/sessions", expire_once)
        with page.expect_response("**/auth/refresh") as refreshed:
            page.click("#reload-sessions")
        assert refreshed.value.status == 200
        expect(page.locator("#sessions li.current")).to_have_count(1)
        assert answered == [True]
    finally:
        context.close()


def test_pages_are_locked_down(api: str) -> None:
    for path, kind in (
        ("/demo", "text/html"),
        ("/demo/verify-email", "text/html"),
        ("/demo/reset-password", "text/html"),
        ("/demo/demo.js", "text/javascript"),
        ("/demo/demo.css", "text/css"),
    ):
        with urllib.request.urlopen(f"{api}{path}", timeout=30) as reply:  # noqa: S310
            headers = reply.headers
            assert headers["Content-Type"].startswith(kind), path
            policy = headers["Content-Security-Policy"]
            assert "script-src 'self';" in policy
            assert "connect-src 'self';" in policy
            assert "default-src 'none'" in policy
            assert headers["Referrer-Policy"] == "no-referrer"
            assert headers["Cache-Control"] == "no-store"
    # The local API's own mail pages keep working beside the demo.
    with urllib.request.urlopen(f"{api}/_localapi/verify-email", timeout=30) as reply:  # noqa: S310
        assert reply.status == 200


def test_the_script_never_stores_a_token() -> None:
    from localapi.webapp import DEMO_DIRECTORY

    script = (DEMO_DIRECTORY / "demo.js").read_text(encoding="utf-8")
    code = "\n".join(line for line in script.splitlines() if not line.strip().startswith("//"))
    for forbidden in ("localStorage", "sessionStorage", "document.cookie", "innerHTML", "eval("):
        assert forbidden not in code
