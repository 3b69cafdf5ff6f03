"""The local API's own admin route, and template parameters taken from the environment."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from localapi.model import build_app_spec, parameters_from_environment
from localapi.server import MANAGED_VARIABLES, LocalAdmin, local_parameter_values
from localapi.template import Resolver, load_template, parse_template
from tests.support.paths import LOCALAPI_FIXTURES, ROOT, TEMPLATE


def downstream(environ: dict[str, Any], start_response: Any) -> Any:
    return Response("from the gateway", status=200)(environ, start_response)


def admin(rotate: Any) -> tuple[Client, io.StringIO]:
    log = io.StringIO()

    def say(line: str) -> None:
        log.write(line + "\n")

    return Client(LocalAdmin(downstream, rotate, say)), log


def test_rotate_keys_answers_the_new_kids() -> None:
    calls: list[int] = []

    def rotate() -> dict[str, str]:
        calls.append(1)
        return {"previous": "p", "current": "c", "next": "n"}

    client, log = admin(rotate)
    reply = client.post("/_localapi/rotate-keys")
    assert reply.status_code == 200
    assert reply.json == {"rotated": True, "kids": {"previous": "p", "current": "c", "next": "n"}}
    assert calls == [1]
    assert "current kid c" in log.getvalue()


def test_admin_paths_never_reach_the_gateway_and_other_paths_always_do() -> None:
    client, _ = admin(lambda: {})
    assert client.get("/_localapi/rotate-keys").status_code == 405
    assert client.post("/_localapi/other").status_code == 404
    assert client.get("/me").get_data(as_text=True) == "from the gateway"
    assert client.post("/_localapi-not-admin").get_data(as_text=True) == "from the gateway"


def test_without_signing_keys_there_is_nothing_to_rotate() -> None:
    client, _ = admin(None)
    reply = client.post("/_localapi/rotate-keys")
    assert reply.status_code == 404
    assert "SigningKeysSecret" in (reply.json or {})["message"]


def test_a_failed_rotation_is_a_500_with_the_reason_in_the_log() -> None:
    def rotate() -> dict[str, str]:
        raise RuntimeError("moto said no")

    client, log = admin(rotate)
    reply = client.post("/_localapi/rotate-keys")
    assert (reply.status_code, reply.json) == (500, {"message": "Internal Server Error"})
    assert "moto said no" in log.getvalue()


def test_variables_that_pass_a_parameter_through_set_the_parameter() -> None:
    template = load_template(TEMPLATE)
    environ = {
        "ALLOWED_ORIGINS": "https://app.example.com",
        "JWKS_MAX_AGE_SECONDS": "120",  # only on JwksFunction
        "JWT_AUDIENCE": "aud",  # an !If, not a plain !Ref: no parameter to set
        "AWS_REGION": "eu-west-1",
        "UNRELATED": "x",
    }
    values = parameters_from_environment(template, environ, ignore=MANAGED_VARIABLES)
    assert values == {"AllowedOrigins": "https://app.example.com", "JwksMaxAgeSeconds": "120"}


def test_cors_follows_the_allowed_origins_parameter_of_the_template() -> None:
    template = load_template(TEMPLATE)
    local = local_parameter_values(template, {}, "http://127.0.0.1:3000")
    assert build_app_spec(template, ROOT, Resolver(template, parameter_values=local)).cors is None
    origins = "https://app.example.com, http://localhost:5173"
    resolver = Resolver(template, parameter_values={**local, "AllowedOrigins": origins})
    cors = build_app_spec(template, ROOT, resolver).cors
    assert cors is not None
    assert cors.allow_origins == ("https://app.example.com", "http://localhost:5173")
    assert cors.allow_credentials is True
    assert cors.allow_methods == ("GET", "POST", "DELETE", "OPTIONS")
    assert cors.allow_headers == ("authorization", "content-type")
    assert cors.max_age == 600


def test_a_template_route_under_the_admin_prefix_is_refused(tmp_path: Path) -> None:
    from localapi.server import LocalApi, StartupError

    toy = (LOCALAPI_FIXTURES / "template.yaml").read_text()
    assert "Path: /public/echo\n" in toy
    broken = tmp_path / "template.yaml"
    broken.write_text(toy.replace("Path: /public/echo\n", "Path: /_localapi/echo\n", 1))
    (tmp_path / "functions").symlink_to(LOCALAPI_FIXTURES / "functions")
    parse_template(broken.read_text())
    api = LocalApi(broken, port=0, log=io.StringIO(), process_environ={})
    saved = dict(os.environ)
    with pytest.raises(StartupError, match="/_localapi/"):
        api.start()
    assert dict(os.environ) == saved  # a failed start gives the process its environment back
