"""examples/protected-api served beside the main stack (``--example protected-api``): its
routes accept the main API's access tokens through the imported authorizer
(``Fn::ImportValue`` of ``<stack>-AuthorizerFunctionArn``), and its handler reads ``sub``,
``sid``, ``roles`` and ``acr`` from the authorizer's context (README "Protect your own
API"): ``GET /secure`` needs a session opened with a second factor (``acr`` ``aal2``)."""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from localapi.testing import running_local_api
from tests.support.http_client import Client, Reply, checking_openapi
from tests.support.local_mail import Device, claims_of, logged_in_device, sign_up_and_verify
from tests.support.mfa import Authenticator, enable_mfa, mfa_logged_in_device, mfa_token, verify
from tests.support.paths import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-protected-api")]
PASSWORD = "correct horse battery staple"
EXAMPLE_HANDLER = ROOT / "examples" / "protected-api" / "src" / "app.py"


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with running_local_api(examples=["protected-api"]) as base_url:
        yield Client(base_url)


@pytest.fixture(scope="module")
def token(client: Client) -> str:
    email = f"protected-{uuid.uuid4().hex[:8]}@example.com"
    sign_up_and_verify(client, email, PASSWORD)
    device = logged_in_device(client, email, PASSWORD, "protected-api-e2e")
    assert device.access_token
    return device.access_token


@dataclass
class SecondFactorAccount:
    email: str
    authenticator: Authenticator
    recovery_codes: list[str]
    password_only: str  # an access token of the session that enrolled: acr aal1


@pytest.fixture(scope="module")
def second_factor(client: Client) -> SecondFactorAccount:
    """An account with two-step verification on (a real TOTP app, tests/support/mfa.py)."""
    email = f"protected-mfa-{uuid.uuid4().hex[:8]}@example.com"
    sign_up_and_verify(client, email, PASSWORD)
    device = logged_in_device(client, email, PASSWORD, "protected-api-e2e-mfa")
    enrolled = enable_mfa(device, PASSWORD)
    assert device.access_token
    return SecondFactorAccount(
        email, enrolled.authenticator, enrolled.recovery_codes, device.access_token
    )


def example(client: Client, path: str, token: str | None = None) -> Reply:
    """A call to the example's API: another stack's, which openapi.yaml does not describe."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    with checking_openapi(False):
        return client.send("GET", path, headers=headers)


def test_hello_answers_who_the_token_says_the_caller_is(client: Client, token: str) -> None:
    reply = example(client, "/hello", token)
    assert reply.status == 200, reply.raw
    claims = claims_of(token)
    body = reply.json()
    assert body["sub"] == claims["sub"]
    assert body["sid"] == claims["sid"]
    assert body["roles"] == ["user"]


def test_hello_without_a_token_is_refused_by_the_authorizer(client: Client) -> None:
    assert example(client, "/hello").status == 401
    assert example(client, "/hello", "not.a.token").status == 403


def test_admin_is_forbidden_to_a_plain_user(client: Client, token: str) -> None:
    reply = example(client, "/admin", token)
    assert reply.status == 403, reply.raw
    assert reply.json()["error"] == "forbidden"


def test_secure_refuses_a_password_only_session(
    client: Client, token: str, second_factor: SecondFactorAccount
) -> None:
    """acr aal1: a password alone, even for an account that has a second factor now (the
    session that enrolled was opened before it)."""
    for access in (token, second_factor.password_only):
        assert claims_of(access)["acr"] == "aal1"
        reply = example(client, "/secure", access)
        assert reply.status == 403, reply.raw
        assert reply.json()["error"] == "mfa_required"
        assert reply.json()["message"]
    # the other routes do not ask for it
    assert example(client, "/hello", second_factor.password_only).json()["acr"] == "aal1"


def test_secure_answers_a_session_opened_with_a_totp_code(
    client: Client, second_factor: SecondFactorAccount
) -> None:
    device = mfa_logged_in_device(
        client, second_factor.email, PASSWORD, "protected-api-e2e-otp", second_factor.authenticator
    )
    assert device.access_token
    claims = claims_of(device.access_token)
    assert (claims["acr"], claims["amr"]) == ("aal2", ["pwd", "otp"])
    reply = example(client, "/secure", device.access_token)
    assert reply.status == 200, reply.raw
    body = reply.json()
    assert (body["sub"], body["sid"], body["acr"]) == (claims["sub"], claims["sid"], "aal2")
    # a refreshed token of that session is aal2 as well
    assert device.refresh().status == 200
    assert example(client, "/secure", device.access_token).status == 200


def test_secure_answers_a_session_opened_with_a_recovery_code(
    client: Client, second_factor: SecondFactorAccount
) -> None:
    device = Device(client, "protected-api-e2e-recovery")
    token = mfa_token(client, second_factor.email, PASSWORD)
    reply = verify(device, token, recovery_code=second_factor.recovery_codes[0])
    assert reply.status == 200, reply.raw
    assert device.access_token
    assert claims_of(device.access_token)["amr"] == ["pwd", "mfa"]
    assert example(client, "/secure", device.access_token).status == 200


def test_the_main_api_still_answers_beside_the_example(client: Client, token: str) -> None:
    reply = client.send("GET", "/me", headers={"Authorization": f"Bearer {token}"})
    assert reply.status == 200, reply.raw


def _example_handler() -> Any:
    spec = importlib.util.spec_from_file_location("protected_api_example", EXAMPLE_HANDLER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


@pytest.mark.parametrize(
    ("roles", "status"),
    [
        (["user", "admin"], 200),
        (["user"], 403),
        ('["user","admin"]', 200),  # a gateway that passes the list as its JSON text
        # Fail closed: no guessing from strings that are not a JSON list of strings.
        ("admin,user", 403),
        ('["x,admin"]', 403),
        ('"admin"', 403),
        ([["admin"]], 403),
    ],
)
def test_admin_needs_the_admin_role(roles: Any, status: int) -> None:
    context = {"lambda": {"sub": "u1", "sid": "s1", "roles": roles}}
    event = {"rawPath": "/admin", "requestContext": {"authorizer": context}}
    reply = _example_handler()(event, None)
    assert reply["statusCode"] == status
    assert json.loads(reply["body"])["error" if status == 403 else "sub"] in ("forbidden", "u1")


@pytest.mark.parametrize(
    ("acr", "status"),
    [
        ("aal2", 200),
        ("aal1", 403),
        (None, 403),  # a context without it (a token from before the second factor)
        # Fail closed: nothing but the exact string.
        ("AAL2", 403),
        (" aal2", 403),
        (["aal2"], 403),
        ("aal3", 403),
        (2, 403),
    ],
)
def test_secure_needs_acr_aal2(acr: Any, status: int) -> None:
    identity: dict[str, Any] = {"sub": "u1", "sid": "s1", "roles": ["user"], "amr": ["pwd"]}
    if acr is not None:
        identity["acr"] = acr
    event = {"rawPath": "/secure", "requestContext": {"authorizer": {"lambda": identity}}}
    reply = _example_handler()(event, None)
    assert reply["statusCode"] == status
    body = json.loads(reply["body"])
    if status == 403:
        assert body["error"] == "mfa_required"
    else:
        assert (body["sub"], body["acr"]) == ("u1", "aal2")
