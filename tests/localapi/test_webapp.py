"""The demo app's files and headers (localapi/webapp.py), without a browser: every page
path answers index.html, the assets their types, everything the strict CSP."""

from __future__ import annotations

import pytest

from localapi.webapp import DEMO_DIRECTORY, demo_response, is_demo_path


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/demo", "text/html"),
        ("/demo/", "text/html"),
        ("/demo/verify-email", "text/html"),
        ("/demo/reset-password", "text/html"),
        ("/demo/demo.js", "text/javascript"),
        ("/demo/demo.css", "text/css"),
    ],
)
def test_pages_and_assets(path: str, kind: str) -> None:
    reply = demo_response("GET", path)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith(kind)
    policy = reply.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "connect-src 'self';" in policy
    assert reply.headers["Referrer-Policy"] == "no-referrer"


def test_other_paths_and_methods() -> None:
    assert is_demo_path("/demo")
    assert is_demo_path("/demo/x")
    assert not is_demo_path("/demonstration")
    assert demo_response("GET", "/demo/../server.py").status_code == 404
    assert demo_response("GET", "/demo/nothing").status_code == 404
    assert demo_response("POST", "/demo").status_code == 405


def test_the_page_loads_only_its_own_assets() -> None:
    page = (DEMO_DIRECTORY / "index.html").read_text(encoding="utf-8")
    assert "http://" not in page
    assert "https://" not in page
    assert "<script>" not in page
    assert "style=" not in page
