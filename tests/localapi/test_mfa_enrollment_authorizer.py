"""The local API serves template.yaml's second authorizer: the two MFA enrolment routes are
guarded by MfaEnrollmentAuthorizer (its own function, functions/authorizer/ loaded again
with ACCEPT_MFA_ENROLLMENT_TOKENS), every other protected route by TokenAuthorizer. Under
MFA=required the enrolment token of a login opens those two routes and nothing else."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from localapi.testing import LocalApiUrl, running_local_api
from tests.support.http_client import Client
from tests.support.local_mail import sign_up_and_verify
from tests.support.mfa import CONFIRM, DISABLE, ENROLL, RECOVERY_CODES, Authenticator, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("localapi")]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def api() -> Iterator[LocalApiUrl]:
    with running_local_api({"MFA": "required"}) as base_url:
        yield base_url


def test_the_enrolment_routes_name_their_own_authorizer(api: LocalApiUrl) -> None:
    printed = api.stderr()
    for route in (f"POST {ENROLL}", f"POST {CONFIRM}"):
        assert f"route {route} -> MfaFunction (authorizer MfaEnrollmentAuthorizer)" in printed
    for route in (f"POST {RECOVERY_CODES}", f"DELETE {DISABLE}"):
        assert f"route {route} -> MfaFunction (authorizer TokenAuthorizer)" in printed
    assert "route POST /auth/mfa/verify -> MfaVerifyFunction (no auth)" in printed
    assert printed.count("(authorizer MfaEnrollmentAuthorizer)") == 2


def test_the_enrolment_token_opens_the_enrolment_routes_only(api: LocalApiUrl) -> None:
    client = Client(api)
    email = f"enrolment-{uuid.uuid4().hex[:8]}@example.com"
    sign_up_and_verify(client, email, PASSWORD)
    answer = log_in(client, email, PASSWORD).json()
    assert answer["mfa_enrollment_required"] is True, answer
    bearer = {"Authorization": f"Bearer {answer['mfa_token']}"}

    # TokenAuthorizer's routes: 403 from the gateway, before any handler
    for method, path, body in (
        ("GET", "/me", None),
        ("GET", "/auth/sessions", None),
        ("POST", RECOVERY_CODES, {"password": PASSWORD, "code": "123456"}),
        ("DELETE", DISABLE, {"password": PASSWORD, "code": "123456"}),
    ):
        reply = client.call(method, path, body, bearer)
        assert (reply.status, reply.json()) == (403, {"message": "Forbidden"}), (method, path)
    # no Authorization at all: 401 from the gateway, for the second authorizer too
    assert client.call("POST", ENROLL, {"password": PASSWORD}).status == 401

    # MfaEnrollmentAuthorizer's: through to the MFA function
    enrolled = client.call("POST", ENROLL, {"password": PASSWORD}, bearer)
    assert enrolled.status == 200, enrolled.raw
    app = Authenticator(enrolled.json()["secret"])
    confirmed = client.call("POST", CONFIRM, {"code": app.code()}, bearer)
    assert confirmed.status == 200, confirmed.raw
    assert len(confirmed.json()["recovery_codes"]) == 10
    # enrolled: the next login asks for a code, and the enrolment token has done its job
    assert log_in(client, email, PASSWORD).json()["mfa_required"] is True
    again = client.call("POST", ENROLL, {"password": PASSWORD}, bearer)
    assert again.status == 409, again.raw  # mfa_already_enabled


def test_an_access_token_passes_both_authorizers(api: LocalApiUrl) -> None:
    """What TokenAuthorizer allows, MfaEnrollmentAuthorizer allows too: an account that
    logged in with a second factor reaches the enrolment routes (409: already on)."""
    client = Client(api)
    email = f"enrolment-access-{uuid.uuid4().hex[:8]}@example.com"
    sign_up_and_verify(client, email, PASSWORD)
    token = log_in(client, email, PASSWORD).json()["mfa_token"]
    app = Authenticator(
        client.call(
            "POST", ENROLL, {"password": PASSWORD}, {"Authorization": f"Bearer {token}"}
        ).json()["secret"]
    )
    codes = client.call(
        "POST", CONFIRM, {"code": app.code()}, {"Authorization": f"Bearer {token}"}
    ).json()["recovery_codes"]
    verify_token = log_in(client, email, PASSWORD).json()["mfa_token"]
    tokens = client.call(
        "POST",
        "/auth/mfa/verify",
        {"mfa_token": verify_token, "recovery_code": codes[0]},
    ).json()
    access = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.call("GET", "/me", None, access).status == 200
    reply = client.call("POST", ENROLL, {"password": PASSWORD}, access)
    assert reply.status == 409, reply.raw
    assert reply.json()["error"] == "mfa_already_enabled"
