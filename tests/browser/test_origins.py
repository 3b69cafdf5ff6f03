"""Browser apps on their own origin, in headless Chromium (issue 12 items 3 and 6;
docs/browser-apps.md). A tiny page server on another port stands in for the app's dev
server; the local API allows it in ALLOWED_ORIGINS under both names, ``localhost`` and
``127.0.0.1``. Ports differ, so every pair here is cross-origin; only the host decides
the site.

- Same site (``http://localhost:<app>`` calling ``http://localhost:<api>``): CORS lets
  signup and login through, the cookie is stored and refreshes work.
- Cross site (``http://127.0.0.1:<app>`` calling ``http://localhost:<api>``): the origin
  is listed, so CORS lets signup and login through, but Chromium refuses the
  SameSite=Strict cookie of a cross-site response, and the next refresh answers 400
  with a message that names the cause (issue 12, item 6).
- The same app framed by a page of another site: its calls are same-site, so login
  passes, but the browser refuses the SameSite=Strict cookie of that cross-site context
  and the next refresh answers 400 with a message that names the cause.
- A page on another site cannot use the demo's session: the browser does not send it
  the Strict cookie (or the API refuses an origin it does not list), its refresh fails,
  and the session's cookie is left as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from localapi.testing import LocalApiUrl, running_local_api
from tests.browser.support import (
    PASSWORD,
    REFRESH_COOKIE,
    mail_link,
    post_json,
    require_chromium,
    static_server,
    verified_account,
)
from tests.support.local_mail import unique_address

require_chromium()

from playwright.sync_api import Frame, Page, expect  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.xdist_group("browser-origins")]

# fetch() from the app's page, as an app on its own origin calls the API: the absolute
# URL and credentials: "include" (cross-origin requests send and store cookies only so).
CALL = """async ([url, method, body]) => {
  const init = {method, credentials: "include", headers: {}};
  if (body !== null) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    const reply = await fetch(url, init);
    const text = await reply.text();
    return {status: reply.status, body: text ? JSON.parse(text) : null};
  } catch (error) {
    return {status: 0, body: {blocked: String(error)}};
  }
}"""


class Apps:
    """The app server's port and the local API (``http://127.0.0.1:<port>``)."""

    def __init__(self, app_port: int, api: LocalApiUrl) -> None:
        self.app_port = app_port
        self.api = str(api)
        self.api_port = int(self.api.rsplit(":", 1)[1])
        self.log = api.stderr  # the local API's access log (and more)


@pytest.fixture(scope="module")
def apps() -> Iterator[Apps]:
    with static_server() as app_port:
        allowed = f"http://localhost:{app_port},http://127.0.0.1:{app_port}"
        with running_local_api({"ALLOWED_ORIGINS": allowed}) as url:
            yield Apps(app_port, url)


def call(page: Page | Frame, url: str, method: str = "POST", body: Any = None) -> dict[str, Any]:
    reply: dict[str, Any] = page.evaluate(CALL, [url, method, body])
    return reply


def test_same_site_app_on_another_port_logs_in_and_refreshes(browser: Browser, apps: Apps) -> None:
    api = f"http://localhost:{apps.api_port}"
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"http://localhost:{apps.app_port}/")
        email = unique_address("origins")
        signup = call(page, f"{api}/auth/signup", body={"email": email, "password": PASSWORD})
        assert signup["status"] == 202, signup
        verified_account_link_only(apps, email)
        login = call(page, f"{api}/auth/login", body={"email": email, "password": PASSWORD})
        assert login["status"] == 200, login
        assert "refresh_token" not in login["body"]
        cookies = [c for c in context.cookies(api) if c["name"] == REFRESH_COOKIE]
        assert len(cookies) == 1, cookies
        assert cookies[0]["httpOnly"] is True
        for _ in range(2):  # each refresh rotates the cookie; the next one sends it
            refreshed = call(page, f"{api}/auth/refresh")
            assert refreshed["status"] == 200, refreshed
        me = call(page, f"{api}/me", "GET")
        assert me["status"] == 401  # no Authorization: the cookie alone is no access token
    finally:
        context.close()


def verified_account_link_only(apps: Apps, email: str) -> None:
    """Verify ``email`` (signed up from the page) with its mail's token, over HTTP."""
    link = mail_link(apps.api, email, "/verify-email")
    token = link.split("#token=", 1)[1]
    assert post_json(f"{apps.api}/auth/verify-email", {"token": token}) == 200


def test_cross_site_app_logs_in_but_its_refresh_names_the_refused_cookie(
    browser: Browser, apps: Apps
) -> None:
    api = f"http://localhost:{apps.api_port}"
    email = unique_address("origins")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{apps.app_port}/")  # another site than localhost
        signup = call(page, f"{api}/auth/signup", body={"email": email, "password": PASSWORD})
        assert signup["status"] == 202, signup  # a listed origin: CORS works
        verified_account_link_only(apps, email)
        login = call(page, f"{api}/auth/login", body={"email": email, "password": PASSWORD})
        assert login["status"] == 200, login
        # The cross-site response's SameSite=Strict cookie is refused by the browser...
        assert [c for c in context.cookies() if c["name"] == REFRESH_COOKIE] == []
        refreshed = call(page, f"{api}/auth/refresh")
        # ...so the refresh has none, and its 400 says why.
        assert refreshed["status"] == 400, refreshed
        message = refreshed["body"]["message"]
        assert "SameSite=Strict" in message, message
    finally:
        context.close()


def test_framed_app_logs_in_but_its_refresh_names_the_refused_cookie(
    browser: Browser, apps: Apps
) -> None:
    api = f"http://localhost:{apps.api_port}"
    email = unique_address("origins")
    verified_account(apps.api, email)
    context = browser.new_context()
    try:
        page = context.new_page()
        # The app (localhost) inside a page of another site (127.0.0.1).
        app_url = f"http://localhost:{apps.app_port}/"
        page.goto(f"http://127.0.0.1:{apps.app_port}/frame?src={app_url}")
        expect(page.locator("#app")).to_be_attached()
        frame = page.frame(url=app_url)
        assert frame is not None
        frame.wait_for_load_state()
        login = call(frame, f"{api}/auth/login", body={"email": email, "password": PASSWORD})
        assert login["status"] == 200, login  # same-site call, allowed origin: CORS works
        assert [c for c in context.cookies() if c["name"] == REFRESH_COOKIE] == []
        refreshed = call(frame, f"{api}/auth/refresh")
        assert refreshed["status"] == 400, refreshed
        assert refreshed["body"]["error"] == "invalid_request"
        message = refreshed["body"]["message"]
        assert "SameSite=Strict" in message, message
        assert f"http://localhost:{apps.app_port}" in message, message
    finally:
        context.close()


def test_a_page_on_another_origin_cannot_refresh(browser: Browser, apps: Apps) -> None:
    email = unique_address("origins")
    verified_account(apps.api, email)
    context = browser.new_context()
    try:
        # Logged in on the demo, served by the API itself (127.0.0.1).
        demo = context.new_page()
        demo.goto(f"{apps.api}/demo")
        demo.fill("#login-email", email)
        demo.fill("#login-password", PASSWORD)
        demo.click("#login-form button")
        expect(demo.locator("#status")).to_have_text(f"Signed in as {email}")
        before = [c["value"] for c in context.cookies() if c["name"] == REFRESH_COOKIE]
        assert len(before) == 1

        # Another origin in the same browser (localhost, another port) tries to use it.
        page = context.new_page()
        page.goto(f"http://localhost:{apps.app_port}/")
        attempt = call(page, f"{apps.api}/auth/refresh")
        # A cross-site call: the browser sends no Strict cookie, so there is nothing to
        # refresh (400); were its origin not listed, the API would refuse it (403).
        assert attempt["status"] in (0, 400, 403), json.dumps(attempt)
        assert attempt["status"] == 0 or attempt["body"]["error"] in (
            "invalid_request",
            "cross_site_request",
        )
        after = [c["value"] for c in context.cookies() if c["name"] == REFRESH_COOKIE]
        assert after == before  # nothing rotated: the demo's session still refreshes
        demo.reload()
        expect(demo.locator("#status")).to_have_text(f"Signed in as {email}")
    finally:
        context.close()
