"""The whole flow (docs/routes.md) against a deployed stack: needs an AWS account, so skipped unless
RUN_AWS_TESTS=1 and STATELESS_AUTH_URL (the stack's ApiUrl output) are set."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.support.http_client import Client

pytestmark = pytest.mark.aws
PASSWORD = "correct horse battery staple"


def test_signup_login_me_refresh_logout_on_aws() -> None:
    url = os.environ.get("STATELESS_AUTH_URL")
    if not url:
        pytest.fail("RUN_AWS_TESTS=1 needs STATELESS_AUTH_URL, the stack's ApiUrl output")
    api = Client(url)
    email = f"smoke-{uuid.uuid4().hex[:12]}@example.com"
    assert api.call("POST", "/auth/signup", {"email": email, "password": PASSWORD}).status == 201
    tokens = api.call(
        "POST",
        "/auth/login",
        {"email": email, "password": PASSWORD, "refresh_token_delivery": "body"},
    ).json()
    me = api.call("GET", "/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status == 200
    assert me.json()["email"] == email
    rotated = api.call("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert rotated.status == 200
    out = api.call("POST", "/auth/logout", {"refresh_token": rotated.json()["refresh_token"]})
    assert out.status == 204
    assert api.call("GET", "/me").status == 401
