"""``GET /openapi.json`` and ``GET /docs`` over HTTP from a running local API: the document
names the served URL, the Swagger UI page and its assets load from the local API alone,
and (where Chromium is installed) the page renders every operation offline under its
Content-Security-Policy (docs/api.md)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from localapi.api_docs import openapi30
from localapi.testing import running_local_api
from tests.support import openapi
from tests.support.http_client import Client

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


@pytest.fixture(scope="module")
def api() -> Iterator[Client]:
    with running_local_api() as base_url:
        yield Client(base_url)


def test_openapi_json_is_the_document_with_the_served_url(api: Client) -> None:
    reply = api.send("GET", "/openapi.json")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    served = reply.json()
    expected = openapi.load_document()
    assert served["servers"] == [{"url": api.origin, "description": "this local API"}]
    assert {k: v for k, v in served.items() if k != "servers"} == {
        k: v for k, v in expected.items() if k != "servers"
    }


def test_the_docs_page_loads_only_from_the_local_api(api: Client) -> None:
    page = api.send("GET", "/docs")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    html = page.raw.decode()
    assert not re.search(r"(?i)(https?:)?//[a-z0-9]", html), "an external URL in /docs"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html
    for asset in assets:
        assert asset.startswith("/docs/"), asset
        reply = api.send("GET", asset)
        assert reply.status == 200, (asset, reply.status, reply.raw[:200])
        assert reply.raw, asset
    init = api.send("GET", "/docs/init.js").raw.decode()
    assert "/docs/openapi-3.0.json" in init
    rendition = api.send("GET", "/docs/openapi-3.0.json")
    assert rendition.status == 200
    assert rendition.json() == openapi30(api.send("GET", "/openapi.json").json())


def test_the_docs_paths_are_read_only_and_nothing_else_is_served(api: Client) -> None:
    assert api.send("POST", "/openapi.json").status == 405
    assert api.send("GET", "/docs/swagger-ui.js.map").status == 404
    assert api.send("GET", "/docs/../template.yaml").status in (400, 404)


def test_swagger_ui_renders_every_operation_offline(api: Client, browser: Any) -> None:
    document: dict[str, Any] = openapi.load_document()
    count = sum(
        1 for item in document["paths"].values() for key in item if key in ("get", "post", "delete")
    )
    outside: list[str] = []
    problems: list[str] = []
    context = browser.new_context()
    try:
        page = context.new_page()

        def only_local(route: Any) -> None:
            if route.request.url.startswith(api.origin + "/"):
                route.continue_()
            else:  # offline: nothing may come from elsewhere
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_local)
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(api.origin + "/docs")
        page.wait_for_selector(".opblock", timeout=20_000)
        assert page.locator(".opblock").count() == count
        assert "Stateless Auth" in page.locator(".info .title").inner_text()
    finally:
        context.close()
    assert outside == []
    assert problems == [], problems


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/demo", "/demo/{page}"])
def test_the_local_api_refuses_a_template_route_on_its_own_paths(tmp_path: Any, path: str) -> None:
    from localapi.testing import LocalApiFailed
    from tests.support.paths import ROOT

    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    assert text.count("Path: /me\n") == 2
    (tmp_path / "template.yaml").write_text(text.replace("Path: /me\n", f"Path: {path}\n", 1))
    for name in ("functions", "layers"):
        (tmp_path / name).symlink_to(ROOT / name)
    with (
        pytest.raises(LocalApiFailed, match="collides with the local API's own"),
        running_local_api(template=tmp_path / "template.yaml", timeout=60),
    ):
        pass
