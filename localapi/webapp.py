"""The browser demo app at ``/demo`` (CONTRACT §2; docs/browser-apps.md): plain HTML,
JavaScript and CSS from ``localapi/demo/``, no build step, nothing from another host.

``GET /demo``, ``/demo/verify-email`` and ``/demo/reset-password`` (the local API's
default APP_URL is ``<url>/demo``, so the mails' links open the last two) all serve
``index.html``; the script picks the view from the path and takes ``#token=`` from the
fragment. ``/demo/demo.js`` and ``/demo/demo.css`` are its assets, and
``/demo/vendor/qrcode.js`` the one library it uses (qrcode-generator, vendored with its
licence in ``localapi/demo/vendor/``). Only the files listed here are served, each by its
exact path: no folder is mapped, so no other file can be reached. Every answer carries a
strict Content-Security-Policy (scripts, styles and fetches only from this origin, no
inline script, no framing), ``Referrer-Policy: no-referrer`` and ``Cache-Control:
no-store``. Like the mail pages, these are static pages a link from a mail client's site
opens, so only the ``Host`` is checked (by the caller).
"""

from __future__ import annotations

from pathlib import Path

from werkzeug.wrappers import Response

DEMO_PATH = "/demo"
DEMO_DIRECTORY = Path(__file__).resolve().parent / "demo"

# Paths that answer the app's page: the start page and the two the mails link to.
_PAGE_PATHS = frozenset(
    {DEMO_PATH, DEMO_PATH + "/", DEMO_PATH + "/verify-email", DEMO_PATH + "/reset-password"}
)
_ASSETS = {
    DEMO_PATH + "/demo.js": ("demo.js", "text/javascript; charset=utf-8"),
    DEMO_PATH + "/demo.css": ("demo.css", "text/css; charset=utf-8"),
    DEMO_PATH + "/vendor/qrcode.js": ("vendor/qrcode.js", "text/javascript; charset=utf-8"),
}

# 'self' only: no inline script or style (an injected <script> cannot run), fetch only
# to this origin (a script that got in cannot send a token elsewhere), no <base>, no
# form posting anywhere (the forms are handled by the script), no framing (clickjacking).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # The #token= links never leak (fragments are never sent), nor does any other URL.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def is_demo_path(path: str) -> bool:
    """Whether ``path`` is the demo's (``/demo`` or below)."""
    return path == DEMO_PATH or path.startswith(DEMO_PATH + "/")


def demo_response(method: str, path: str) -> Response:
    """The answer to ``method path`` for a path ``is_demo_path`` accepts."""
    if path in _PAGE_PATHS:
        name, content_type = "index.html", "text/html; charset=utf-8"
    elif path in _ASSETS:
        name, content_type = _ASSETS[path]
    else:
        return Response('{"message":"Not Found"}', 404, content_type="application/json")
    if method not in ("GET", "HEAD"):
        return Response(
            '{"message":"Method Not Allowed"}',
            405,
            headers={"Allow": "GET, HEAD"},
            content_type="application/json",
        )
    body = (DEMO_DIRECTORY / name).read_bytes()
    return Response(body, 200, headers={**SECURITY_HEADERS, "Content-Type": content_type})
