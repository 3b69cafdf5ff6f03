"""The pages the mails' links open when APP_URL is empty: offline, their own inline
script only (by hash), the token taken from the fragment and posted to the service."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from werkzeug.test import Client

from localapi.server import LocalAdmin
from tests.localapi.test_admin_and_parameters import downstream

PAGES = {
    "/_localapi/verify-email": ("/auth/verify-email", "{token: token}"),
    "/_localapi/reset-password": ("/auth/password/reset", "{token: token, password:"),
}


def client() -> Client:
    return Client(LocalAdmin(downstream, None, lambda line: None))


@pytest.mark.parametrize("path", sorted(PAGES))
def test_a_page_runs_only_its_own_script_and_leaks_nothing(path: str) -> None:
    reply = client().get(path)
    assert reply.status_code == 200
    assert reply.mimetype == "text/html"
    headers = reply.headers
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    html = reply.get_data(as_text=True)
    [script] = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = dict(
        part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == f"'sha256-{digest}'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert not re.search(r"\b(src|href)=", html)  # no external (or any) resource
    assert "location.hash" in script
    assert 'history.replaceState(null, "", location.pathname)' in script
    route, body = PAGES[path]
    assert f'send("{route}", {body}' in script
    assert '"Content-Type": "application/json"' in script


def test_the_verify_page_posts_only_on_a_click_never_on_load() -> None:
    # A mail scanner that opens the link (and runs its script) must not verify the
    # address for whoever signed it up.
    html = client().get("/_localapi/verify-email").get_data(as_text=True)
    [script] = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    assert '<button type="submit">Verify my email</button>' in html
    before_listener, _, in_listener = script.partition('addEventListener("submit"')
    assert "send(" not in before_listener.split("function send", 1)[1].split("\n}\n", 1)[1]
    assert 'send("/auth/verify-email", {token: token})' in in_listener


def test_the_reset_page_asks_for_the_new_password_in_a_form() -> None:
    html = client().get("/_localapi/reset-password").get_data(as_text=True)
    assert '<input id="password" name="password" type="password"' in html
    assert "event.preventDefault()" in html  # never submitted as a form (form-action 'none')


def test_pages_open_from_another_site_but_refuse_a_rebound_host_and_cross_site_posts() -> None:
    # A link in a mail is a cross-site navigation from the mail client: the static page
    # opens (its own POST is same-origin); a cross-site POST still gets the refusal.
    opened = client().get(
        "/_localapi/verify-email",
        headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
    )
    assert opened.status_code == 200
    assert client().post("/_localapi/verify-email").status_code == 405
    posted = client().post("/_localapi/verify-email", headers={"Origin": "https://evil.example"})
    assert posted.status_code == 403
    rebound = client().get("/_localapi/reset-password", headers={"Host": "evil.example"})
    assert rebound.status_code == 403
