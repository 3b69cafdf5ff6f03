"""The two pages the emails' links open when APP_URL is empty: ``<url>/_localapi/...``.

``GET /_localapi/verify-email#token=...`` posts the token to ``POST /auth/verify-email``
when the button is pressed (never on load: link scanners open mail links);
``GET /_localapi/reset-password#token=...`` asks for a new password and posts both to
``POST /auth/password/reset``. Each shows the JSON answer. The token is read from the
fragment (never sent to a server by the browser) and removed from the address bar at
once. Offline: no external resource; the Content-Security-Policy allows only the page's
own inline script, by its hash, and fetches to this origin.
"""

from __future__ import annotations

import base64
import hashlib
import html
from dataclasses import dataclass

VERIFY_EMAIL_PAGE = "verify-email"
RESET_PASSWORD_PAGE = "reset-password"  # noqa: S105 - a path

_COMMON = """
var out = document.getElementById("answer");
var token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
history.replaceState(null, "", location.pathname);
function show(text) { out.textContent = text; }
function send(path, body) {
  show("Sending...");
  return fetch(path, {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify(body),
    credentials: "same-origin",
    referrerPolicy: "no-referrer"
  }).then(function (reply) {
    return reply.text().then(function (text) {
      var shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) {}
      show(reply.status + " " + (reply.statusText || "") + "\\n" + shown);
    });
  }, function (error) { show("The request failed: " + error); });
}
if (!token) { show("This link has no token (#token=...)."); }
"""

# A click, not the page load, posts the token: mail scanners that open links (some run
# scripts) must not verify an address for whoever signed it up.
_VERIFY_SCRIPT = (
    _COMMON
    + """
var form = document.getElementById("verify");
if (token) { form.hidden = false; }
form.addEventListener("submit", function (event) {
  event.preventDefault();
  form.hidden = true;
  send("/auth/verify-email", {token: token});
});
"""
)

_RESET_SCRIPT = (
    _COMMON
    + """
var form = document.getElementById("reset");
if (token) { form.hidden = false; }
form.addEventListener("submit", function (event) {
  event.preventDefault();
  var password = document.getElementById("password");
  send("/auth/password/reset", {token: token, password: password.value});
  password.value = "";
});
"""
)

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} - Stateless Auth (local)</title>
</head>
<body>
<h1>{title}</h1>
<p>Stateless Auth local API: this page stands in for your app's page (APP_URL is empty).</p>
{form}
<pre id="answer" aria-live="polite"></pre>
<script>{script}</script>
</body>
</html>
"""

_VERIFY_FORM = """<form id="verify" hidden>
<p>Verify this address only if you just signed up with it yourself.</p>
<button type="submit">Verify my email</button>
</form>"""

_RESET_FORM = """<form id="reset" hidden>
<label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required>
<button type="submit">Set the new password</button>
</form>"""


@dataclass(frozen=True)
class Page:
    body: str
    headers: dict[str, str]


def _page(title: str, form: str, script: str) -> Page:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    policy = (
        f"default-src 'none'; script-src 'sha256-{digest}'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return Page(
        body=_TEMPLATE.format(title=html.escape(title), form=form, script=script),
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": policy,
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
        },
    )


PAGES: dict[str, Page] = {
    VERIFY_EMAIL_PAGE: _page("Verify your email", _VERIFY_FORM, _VERIFY_SCRIPT),
    RESET_PASSWORD_PAGE: _page("Reset your password", _RESET_FORM, _RESET_SCRIPT),
}
