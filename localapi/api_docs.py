"""The API's own documentation, served by the local API (docs/api.md): ``GET /openapi.json``
(openapi.yaml beside the template, as JSON, its ``servers`` naming the served URL) and
``GET /docs`` (Swagger UI from the ``swagger-ui-bundle`` package's files under
``/docs/``: no CDN, works offline).

These paths are the local API's own, like ``/_localapi/*``: never template routes (the
local API refuses a template that declares one) and never deployed.

Swagger UI 4.15.5, the version ``swagger-ui-bundle`` ships, renders OpenAPI 3.0 only, so
the page loads ``/docs/openapi-3.0.json``: the same document with the few 3.1 spellings it
uses written the 3.0 way (``openapi30``). ``/openapi.json`` is the 3.1 document itself.
"""

from __future__ import annotations

import importlib
import json
import mimetypes
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Response

_yaml: Any = importlib.import_module("yaml")  # PyYAML ships no type hints

DOCUMENT_NAME = "openapi.yaml"
OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
DOCS_PREFIX = DOCS_PATH + "/"
OPENAPI_30_PATH = DOCS_PREFIX + "openapi-3.0.json"
INIT_PATH = DOCS_PREFIX + "init.js"
# The bundle's files the page uses (nothing else of the package is served).
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png")

# Swagger UI sets inline styles (React style attributes) and draws icons from data: URIs;
# everything else comes from this origin, and "Try it out" calls only this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Stateless Auth API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="/docs/favicon-16x16.png" sizes="16x16">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""

INIT_SCRIPT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/docs/openapi-3.0.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    withCredentials: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""


def is_docs_path(path: str) -> bool:
    """Whether ``path`` is one of these (``/openapi.json``, ``/docs``, ``/docs/...``)."""
    return path in (OPENAPI_PATH, DOCS_PATH) or path.startswith(DOCS_PREFIX)


def load_document(path: Path) -> dict[str, Any]:
    document = _yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{path} is not an OpenAPI document")
    return document


def served(document: Mapping[str, Any], url: str) -> dict[str, Any]:
    """The document as served at ``url``: its one server is that URL."""
    return {**document, "servers": [{"url": url.rstrip("/"), "description": "this local API"}]}


def openapi30(document: Any, *, in_schema: bool = False) -> Any:
    """The document with its 3.1 spellings written as 3.0 for Swagger UI 4: ``openapi:
    3.0.3``; in schemas ``type: [X, "null"]`` as ``nullable``, ``const`` as a one-value
    ``enum``, ``examples`` as ``example``; and what 3.0 lacks (``info.summary``,
    ``license.identifier``, ``dependentRequired``) left out."""
    if isinstance(document, list):
        return [openapi30(item, in_schema=in_schema) for item in document]
    if not isinstance(document, dict):
        return document
    result: dict[str, Any] = {}
    for key, value in document.items():
        if in_schema and key == "type" and isinstance(value, list):
            kinds = [kind for kind in value if kind != "null"]
            result["type"] = kinds[0] if len(kinds) == 1 else kinds
            if "null" in value:
                result["nullable"] = True
        elif in_schema and key == "const":
            result["enum"] = [value]
        elif in_schema and key == "examples" and isinstance(value, list):
            if value:
                result["example"] = value[0]
        elif in_schema and key == "dependentRequired":
            continue
        else:
            child_in_schema = in_schema or key in ("schema", "schemas")
            result[key] = openapi30(value, in_schema=child_in_schema)
    if not in_schema and "openapi" in result:
        result["openapi"] = "3.0.3"
        info = dict(result.get("info") or {})
        info.pop("summary", None)
        if isinstance(info.get("license"), dict):
            info["license"] = {k: v for k, v in info["license"].items() if k != "identifier"}
        result["info"] = info
    return result


def swagger_ui_dir() -> Path | None:
    """The bundle's Swagger UI folder, or None without the package."""
    try:
        bundle: Any = importlib.import_module("swagger_ui_bundle")  # no type hints
    except ImportError:
        return None
    return Path(str(bundle.swagger_ui_path))


class ApiDocs:
    """WSGI middleware: ``/openapi.json``, ``/docs`` and ``/docs/*``; the rest to ``app``.

    ``document`` is the parsed openapi.yaml (None: no document beside the template, and
    these paths answer 404 as an unknown route does). Only ``GET`` and ``HEAD``; a Host that
    is not this machine (a DNS-rebinding page) is refused by ``refuse_host``.
    """

    def __init__(
        self,
        app: Callable[[dict[str, Any], Any], Iterable[bytes]],
        document: Mapping[str, Any] | None,
        url: str,
        *,
        refuse_host: Callable[[Mapping[str, Any]], str | None] = lambda environ: None,
        assets: Path | None = None,
    ) -> None:
        self.app = app
        self.refuse_host = refuse_host
        self.assets = assets if assets is not None else swagger_ui_dir()
        self.document = None if document is None else served(document, url)
        self._json = b"" if self.document is None else json.dumps(self.document).encode()
        self._json30 = (
            b"" if self.document is None else json.dumps(openapi30(self.document)).encode()
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO") or "")
        if not is_docs_path(path):
            return self.app(environ, start_response)
        return self._answer(environ, path)(environ, start_response)

    def _answer(self, environ: Mapping[str, Any], path: str) -> Response:
        if self.document is None:
            return _json_reply(404, {"message": "Not Found"})
        refusal = self.refuse_host(environ)
        if refusal is not None:
            return _json_reply(403, {"error": "cross_site_request", "message": refusal})
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _json_reply(405, {"message": "Method Not Allowed"}, {"Allow": "GET, HEAD"})
        if path == OPENAPI_PATH:
            return _reply(self._json, "application/json", cors=True)
        if path == OPENAPI_30_PATH:
            return _reply(self._json30, "application/json")
        if path in (DOCS_PATH, DOCS_PREFIX):
            return _reply(PAGE.encode(), "text/html; charset=utf-8")
        if path == INIT_PATH:
            return _reply(INIT_SCRIPT.encode(), "text/javascript; charset=utf-8")
        name = path[len(DOCS_PREFIX) :]
        if name in ASSETS and self.assets is not None and (self.assets / name).is_file():
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind.endswith("javascript"):
                kind += "; charset=utf-8"
            return _reply((self.assets / name).read_bytes(), kind)
        if name in ASSETS:
            return _json_reply(
                404, {"message": "Swagger UI needs the swagger-ui-bundle package (make install)"}
            )
        return _json_reply(404, {"message": "Not Found"})


def _reply(body: bytes, content_type: str, *, cors: bool = False) -> Response:
    headers = {**SECURITY_HEADERS, "Content-Type": content_type}
    if cors:  # a tool on another origin (an editor, a generator) may read the document
        headers["Access-Control-Allow-Origin"] = "*"
    return Response(body, status=200, headers=headers)


def _json_reply(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        headers={"Content-Type": "application/json", **SECURITY_HEADERS, **(headers or {})},
    )


def serve_api_docs(
    app: Callable[[dict[str, Any], Any], Iterable[bytes]],
    base_dir: Path,
    url: str,
    *,
    refuse_host: Callable[[Mapping[str, Any]], str | None] = lambda environ: None,
) -> ApiDocs:
    """``app`` behind ApiDocs, with the openapi.yaml beside the template (if there is one)."""
    path = base_dir / DOCUMENT_NAME
    document = load_document(path) if path.is_file() else None
    return ApiDocs(app, document, url, refuse_host=refuse_host)


def collides(path: str) -> bool:
    """Whether a template route's path would shadow (or be shadowed by) these paths."""
    return is_docs_path(path.split("{", 1)[0].rstrip("/") or path) or path.startswith(DOCS_PREFIX)
