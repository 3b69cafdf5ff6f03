"""Issue 12 (developer experience) as an attacker sees it: the relaxed cross-site rule
(a listed origin may call with ``Sec-Fetch-Site: cross-site``), the refresh's new 400
message, the /demo app, the local API's /docs and /openapi.json, ``localapi invoke``'s
environment, the protected-api example and the custom domain.

Only protections that hold are here; weaknesses are described in the review's report.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from werkzeug.test import Client

from localapi.api_docs import ASSETS, ApiDocs
from localapi.server import foreign_host, function_environment
from localapi.template import Resolver, load_template
from localapi.webapp import DEMO_DIRECTORY, demo_response
from stateless_auth.domain.errors import InvalidToken
from stateless_auth.http.cross_site import check_request
from stateless_auth.http.errors import CrossSiteRequest, answer_for
from stateless_auth.http.requests import parse_event
from stateless_auth.http.token_delivery import (
    NO_REFRESH_TOKEN,
    missing_refresh_token_message,
    presented_refresh_token,
)
from tests.support.paths import ROOT, TEMPLATE

API_HOST = "abc123.execute-api.us-east-1.amazonaws.com"
OWN = f"https://{API_HOST}"
APP = "https://app.example.com"
ALLOWED = frozenset({APP})
EXAMPLE_DIR = ROOT / "examples" / "protected-api"


def event(
    method: str = "POST",
    headers: dict[str, str] | None = None,
    *,
    body: str | None = None,
    cookie: str | None = None,
) -> Any:
    all_headers = {"host": API_HOST, "x-forwarded-proto": "https"}
    if body is not None:
        all_headers["content-type"] = "application/json"
    all_headers.update(headers or {})
    raw: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} /auth/refresh",
        "rawPath": "/auth/refresh",
        "headers": all_headers,
        "requestContext": {
            "domainName": API_HOST,
            "http": {"method": method, "path": "/auth/refresh"},
            "requestId": "req-dx-review",
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        raw["body"] = body
    if cookie is not None:
        raw["cookies"] = [f"__Host-refresh_token={cookie}"]
    return parse_event(raw)


# --- the relaxed cross-site rule ------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        # A site not listed, with or without Sec-Fetch-Site.
        {"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
        {"origin": "https://evil.example"},
        # Sandboxed frames, data: and file: pages send Origin: null.
        {"origin": "null", "sec-fetch-site": "cross-site"},
        {"origin": "null"},
        # No Origin at all but the browser says cross-site (a navigation-like request).
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": " Cross-Site "},
        # Look-alikes of the listed origin: subdomain, suffix, scheme, port, userinfo,
        # trailing dot, a second value, an encoded form.
        {"origin": "https://evil.app.example.com", "sec-fetch-site": "cross-site"},
        {"origin": "https://app.example.com.evil.example", "sec-fetch-site": "cross-site"},
        {"origin": "https://evilapp.example.com", "sec-fetch-site": "cross-site"},
        {"origin": "http://app.example.com", "sec-fetch-site": "cross-site"},
        {"origin": "https://app.example.com:8443", "sec-fetch-site": "cross-site"},
        {"origin": "https://user@app.example.com", "sec-fetch-site": "cross-site"},
        {"origin": "https://app.example.com.", "sec-fetch-site": "cross-site"},
        {"origin": "https://app.example.com, https://evil.example"},
        {"origin": "https://app%2eexample.com", "sec-fetch-site": "cross-site"},
        {"origin": "https://app.example.com/path", "sec-fetch-site": "cross-site"},
        # The API's own origin cannot be claimed from another site.
        {"origin": OWN, "sec-fetch-site": "cross-site"},
    ],
)
@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT", "PATCH"])
def test_a_site_that_is_not_listed_cannot_change_state(
    headers: dict[str, str], method: str
) -> None:
    with pytest.raises(CrossSiteRequest) as raised:
        check_request(event(method, headers, body="{}"), ALLOWED)
    assert answer_for(raised.value).status == 403


@pytest.mark.parametrize("origin", [APP, "HTTPS://APP.EXAMPLE.COM", APP + "/", f" {APP} "])
def test_a_listed_origin_passes_cross_site_in_the_spellings_browsers_and_config_agree_on(
    origin: str,
) -> None:
    check_request(event("POST", {"origin": origin, "sec-fetch-site": "cross-site"}), ALLOWED)


def test_the_cookie_re_check_refuses_a_foreign_origin_even_when_called_directly() -> None:
    """token_delivery's second line: the cookie from a site not listed is never read."""
    for headers in (
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"origin": "https://evil.app.example.com", "sec-fetch-site": "cross-site"},
    ):
        with pytest.raises(CrossSiteRequest):
            presented_refresh_token(event("POST", headers, cookie="a-stolen-cookie"), ALLOWED)


def test_a_cookie_with_a_bad_token_still_fails_the_origin_check_first() -> None:
    """A foreign site learns nothing about the cookie's shape: 403 before 401."""
    bad = event("POST", {"origin": "https://evil.example"}, cookie="x" * 600)
    with pytest.raises(CrossSiteRequest):
        presented_refresh_token(bad, ALLOWED)
    with pytest.raises(InvalidToken):
        presented_refresh_token(event("POST", {}, cookie="x" * 600), ALLOWED)


def test_an_empty_allow_list_keeps_the_old_strict_rule() -> None:
    """The default deployment (ALLOWED_ORIGINS empty) refuses every cross-site call."""
    for headers in ({"origin": APP, "sec-fetch-site": "cross-site"}, {"origin": APP}):
        with pytest.raises(CrossSiteRequest):
            check_request(event("POST", headers), frozenset())
    check_request(event("POST", {"origin": OWN, "sec-fetch-site": "same-origin"}), frozenset())


# --- the refresh's 400 message ---------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "https://evil.example/<script>alert(1)</script>",
        "null",
        "",
        OWN,
        "https://app.example.com.evil.example",
    ],
)
def test_the_400_message_names_no_origin_that_is_not_listed(origin: str) -> None:
    """The long message (and so the echo) only for a listed origin: no reflection of
    attacker input, no oracle beyond what CORS already answers."""
    headers = {"origin": origin} if origin else {}
    message = missing_refresh_token_message(event("POST", headers), ALLOWED)
    assert message == NO_REFRESH_TOKEN


def test_the_400_message_echoes_only_the_listed_spelling_and_no_configuration() -> None:
    other = "https://other.example.org"
    message = missing_refresh_token_message(
        event("POST", {"origin": "HTTPS://APP.EXAMPLE.COM/", "sec-fetch-site": "cross-site"}),
        frozenset({APP, other}),
    )
    assert APP in message
    assert "APP.EXAMPLE.COM" not in message  # the normalised (configured) form, not the input
    assert other not in message  # the rest of the allow list stays unsaid
    for secret_ish in ("arn:", "secret", "ALLOWED_ORIGINS", API_HOST, "table"):
        assert secret_ish not in message


# --- the demo app ------------------------------------------------------------------------


def _demo_text(name: str) -> str:
    return (DEMO_DIRECTORY / name).read_text(encoding="utf-8")


def test_the_demo_never_stores_or_logs_a_token_nor_writes_html() -> None:
    script = _demo_text("demo.js")
    code = "\n".join(line for line in script.splitlines() if not line.strip().startswith("//"))
    for sink in (
        "localStorage",
        "sessionStorage",
        "indexedDB",
        "document.cookie",
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "console.",
        "postMessage",
        "location.href =",
        "location.assign",
        "window.open",
        'setTimeout("',
    ):
        assert sink not in code, sink
    # The refresh token is never asked for in a body the script could read.
    assert "refresh_token_delivery" not in code
    # The #token= is taken from the fragment and removed from the address bar at once.
    assert 'history.replaceState(null, "", location.pathname)' in code


def test_the_demo_page_has_no_inline_script_style_or_external_asset() -> None:
    page = _demo_text("index.html")
    assert not re.search(r"<script(?![^>]*\bsrc=\"/demo/)", page)
    assert " style=" not in page
    assert "<style" not in page
    assert not re.search(r"\bon[a-z]+=", page)  # no inline event handlers
    assert not re.search(r"(src|href)=\"(https?:)?//", page)


@pytest.mark.parametrize(
    "path", ["/demo", "/demo/verify-email", "/demo/reset-password", "/demo/demo.js"]
)
def test_the_demo_answers_carry_the_strict_headers(path: str) -> None:
    reply = demo_response("GET", path)
    csp = reply.headers["Content-Security-Policy"]
    directives = dict(
        ([*part.strip().split(" ", 1), ""])[:2] for part in csp.split(";") if part.strip()
    )
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"  # no clickjacking of the buttons
    assert directives["base-uri"] == "'none'"
    assert directives["form-action"] == "'none'"
    assert "unsafe" not in csp
    assert "data:" not in csp
    assert "*" not in csp
    assert reply.headers["Referrer-Policy"] == "no-referrer"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "path",
    [
        "/demo/../server.py",
        "/demo/..%2fserver.py",
        "/demo/index.html",
        "/demo//demo.js",
        "/demo/demo.js/",
        "/demo/DEMO.JS",
        "/demo/%2e%2e/webapp.py",
    ],
)
def test_the_demo_serves_no_other_file(path: str) -> None:
    assert demo_response("GET", path).status_code == 404


def test_a_rebinding_host_is_refused_for_the_new_pages() -> None:
    for host in ("evil.example", "evil.example:3000", "127.0.0.1.evil.example", "localhost.evil"):
        assert foreign_host({"HTTP_HOST": host}) is not None
    for host in ("127.0.0.1:3000", "localhost:3000", "[::1]:3000"):
        assert foreign_host({"HTTP_HOST": host}) is None


# --- /docs and /openapi.json ---------------------------------------------------------


def _docs_client(tmp_path: Path) -> Client:
    assets = tmp_path / "assets"
    assets.mkdir(exist_ok=True)
    for name in ASSETS:
        (assets / name).write_text("asset")
    (tmp_path / "secret.txt").write_text("do not serve")

    def inner(environ: Any, start_response: Any) -> Any:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"inner"]

    docs = ApiDocs(
        inner,
        {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {}},
        "http://127.0.0.1:3000",
        refuse_host=lambda environ: foreign_host(environ),
        assets=assets,
    )
    return Client(docs)


@pytest.mark.parametrize(
    "path",
    [
        "/docs/../secret.txt",
        "/docs/..%2fsecret.txt",
        "/docs/%2e%2e/secret.txt",
        "/docs/assets/../secret.txt",
        "/docs/index.html",
        "/docs/swagger-ui.css/../../secret.txt",
        "/docs//etc/passwd",
        "/docs/swagger-initializer.js",
    ],
)
def test_the_docs_serve_only_their_named_assets(tmp_path: Path, path: str) -> None:
    reply = Client.get(_docs_client(tmp_path), path, headers={"Host": "127.0.0.1:3000"})
    assert b"do not serve" not in reply.data
    assert reply.status_code in (404, 200)
    if reply.status_code == 200:  # werkzeug normalised the dots away: the page or an asset
        assert reply.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_the_docs_refuse_a_rebinding_host_and_writes(tmp_path: Path) -> None:
    client = _docs_client(tmp_path)
    for path in ("/docs", "/openapi.json", "/docs/openapi-3.0.json", "/docs/swagger-ui.css"):
        assert client.get(path, headers={"Host": "evil.example:3000"}).status_code == 403
        assert client.post(path, headers={"Host": "127.0.0.1:3000"}).status_code == 405


def test_the_openapi_document_is_readable_cross_origin_without_credentials(
    tmp_path: Path,
) -> None:
    reply = _docs_client(tmp_path).get("/openapi.json", headers={"Host": "127.0.0.1:3000"})
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in reply.headers
    # The Swagger UI page and its document are not readable from another origin.
    client = _docs_client(tmp_path)
    for path in ("/docs", "/docs/openapi-3.0.json", "/docs/init.js"):
        headers = client.get(path, headers={"Host": "127.0.0.1:3000"}).headers
        assert "Access-Control-Allow-Origin" not in headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_the_repository_openapi_document_names_no_secret() -> None:
    text = (ROOT / "openapi.yaml").read_text(encoding="utf-8")
    assert not re.search(r"arn:aws|AKIA|\d{12}|BEGIN [A-Z ]*PRIVATE KEY", text)


# --- localapi invoke: the caller's AWS settings ---------------------------------------


def test_the_callers_aws_settings_never_reach_a_function() -> None:
    from localapi.model import FunctionSpec

    spec = FunctionSpec("Fn", "fn", ROOT, "app.handler", 3.0, 128, {"TABLE": "t"})
    caller = {
        "AWS_ACCESS_KEY_ID": "AKIAREALREALREAL",
        "AWS_SECRET_ACCESS_KEY": "real-secret",
        "AWS_SESSION_TOKEN": "real-session",
        "AWS_PROFILE": "prod",
        "AWS_ENDPOINT_URL": "https://real.example",
        "PATH": "/usr/bin",
    }
    managed = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    environment = function_environment(spec, frozenset({"TABLE"}), caller, managed, {})
    assert environment["AWS_ACCESS_KEY_ID"] == "testing"
    assert environment["AWS_SECRET_ACCESS_KEY"] == "testing"
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        assert name not in environment
    assert "real" not in json.dumps(environment).replace("/usr/bin", "")


# --- examples/protected-api ----------------------------------------------------------


def _example_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dx_review_example", EXAMPLE_DIR / "src/app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _admin_call(roles: Any, path: str = "/admin") -> tuple[int, dict[str, Any]]:
    context: dict[str, Any] = {"sub": "u-1", "sid": "s-1"}
    if roles is not ...:
        context["roles"] = roles
    reply = _example_app().lambda_handler(
        {"rawPath": path, "requestContext": {"authorizer": {"lambda": context}}}, None
    )
    return reply["statusCode"], json.loads(reply["body"])


@pytest.mark.parametrize(
    "roles",
    [
        ...,
        None,
        [],
        ["user"],
        ["Admin"],
        ["ADMIN"],
        ["admin "],
        ["administrator"],
        ["superadmin"],
        ["admins"],
        ["user,admin-readonly"],
        "user",
        "administrator",
        "",
        "[]",
        '["user"]',
        {"admin": True},
        True,
        1,
    ],
)
def test_the_admin_check_is_exact(roles: Any) -> None:
    status, answer = _admin_call(roles)
    assert status == 403
    assert answer["error"] == "forbidden"


@pytest.mark.parametrize("roles", [["admin"], ["user", "admin"], '["user","admin"]'])
def test_the_admin_role_passes(roles: Any) -> None:
    assert _admin_call(roles)[0] == 200


def test_no_authorizer_context_is_401_not_anonymous() -> None:
    reply = _example_app().lambda_handler({"rawPath": "/admin", "requestContext": {}}, None)
    assert reply["statusCode"] == 401


def test_the_example_permission_is_scoped_to_its_own_api_authorizers() -> None:
    template = load_template(EXAMPLE_DIR / "template.yaml")
    permission = template["Resources"]["ProtectedApiAuthorizerPermission"]["Properties"]
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["Action"] == "lambda:InvokeFunction"
    source = permission["SourceArn"]["Fn::Sub"]
    assert source.endswith(":${ProtectedApi}/authorizers/*")
    assert "${AWS::AccountId}" in source
    assert "${AWS::Region}" in source
    # The imported function is the auth stack's exported authorizer, nothing else.
    assert permission["FunctionName"] == {
        "Fn::ImportValue": {"Fn::Sub": "${AuthStackName}-AuthorizerFunctionArn"}
    }
    api = template["Resources"]["ProtectedApi"]["Properties"]["Auth"]
    assert api["DefaultAuthorizer"] == "StatelessAuth"
    assert api["Authorizers"]["StatelessAuth"]["Identity"]["Headers"] == ["Authorization"]
    # Every route is behind it: none opts out with Auth: NONE.
    events = template["Resources"]["HelloFunction"]["Properties"]["Events"]
    assert all("Auth" not in e["Properties"] for e in events.values())


# --- the custom domain -----------------------------------------------------------------


def test_the_custom_domain_uses_tls_1_2_and_needs_a_certificate() -> None:
    template = load_template(TEMPLATE)
    config = template["Resources"]["ApiDomain"]["Properties"]["DomainNameConfigurations"][0]
    assert config["SecurityPolicy"] == "TLS_1_2"
    rule = template["Rules"]["ApiDomainNeedsCertificate"]
    assert rule["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ApiCertificateArn"}, ""]}]
    }
    pattern = re.compile(template["Parameters"]["ApiDomainName"]["AllowedPattern"])
    for hostile in (
        "*.example.com",
        "auth.example.com/",
        "https://auth.example.com",
        "Auth.Example.com",
        "auth.example.com:443",
        "auth.example.com\n",
    ):
        assert not pattern.fullmatch(hostile), hostile


def test_an_explicit_issuer_wins_over_the_domain() -> None:
    template = load_template(TEMPLATE)
    resolver = Resolver(
        template,
        stack_name="stateless-auth",
        parameter_values={
            "ApiDomainName": "auth.example.com",
            "ApiCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
            "JwtIssuer": "https://issuer.example.com",
        },
    )
    secret = template["Resources"]["IssuerSecret"]["Properties"]["SecretString"]
    assert resolver.resolve_string(secret) == "https://issuer.example.com"
