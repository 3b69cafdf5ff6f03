"""Every public route's handler with arbitrary payload 2.0 events, against moto: it never
raises, answers a valid payload 2.0 response below 500 (no dependency is made to fail
here, so not even 503), a JSON error body for every status >= 400, and writes no
password, token or cookie value of the event to any log line.

`make fuzz` runs these with HYPOTHESIS_PROFILE=fuzz (tests/property/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tests.property.checks import (
    assert_no_secret_logged,
    assert_valid_http_reply,
    collected_logs,
)
from tests.property.strategies import Case, http_events
from tests.support.handlers import Stack, stack_in_moto

FUNCTIONS = (
    "signup",
    "verify_email",
    "login",
    "refresh",
    "logout",
    "password_reset",
    "jwks",
    "mfa_verify",
)
FUNCTIONS_AND_MAILER = (*FUNCTIONS, "mailer")
EMAIL = "property@example.com"
PASSWORD = "a property test passphrase 42"

# (function, events/ file, route key): every route of every public function.
ROUTES = [
    ("signup", "signup_ok.json", None),
    ("verify_email", "verify_email.json", None),
    ("verify_email", "verify_email_resend.json", None),
    ("login", "login_ok.json", None),
    ("refresh", "refresh_body.json", None),
    ("refresh", "refresh_cookie.json", None),
    ("logout", "logout_cookie.json", None),
    ("password_reset", "password_forgot.json", None),
    ("password_reset", "password_reset.json", None),
    ("jwks", "jwks.json", None),
    ("jwks", "openid_configuration.json", None),
    ("mfa_verify", "mfa_verify.json", None),
    ("mfa_verify", "mfa_verify_recovery.json", None),
]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with stack_in_moto(FUNCTIONS_AND_MAILER) as stack:
        # A real, verified account: some events name it, so the routes go past "unknown".
        stack.sign_up_verified(EMAIL, PASSWORD)
        yield stack


def with_real_email(case: Case, use: bool) -> Case:
    """Now and then, the body's email is the real account's (login, forgot, resend)."""
    body = case.event.get("body")
    if (
        use
        and isinstance(body, str)
        and '"email"' in body
        and not case.event.get("isBase64Encoded")
    ):
        case.event["body"] = body.replace('"email": "', f'"email": "{EMAIL}", "x": "', 1)
    return case


@pytest.mark.parametrize(("function", "template", "route_key"), ROUTES)
@given(data=st.data())
def test_public_route_answers_every_event(
    stack: Stack, function: str, template: str, route_key: str | None, data: st.DataObject
) -> None:
    case = data.draw(http_events(template, route_key=route_key), label="event")
    case = with_real_email(case, data.draw(st.booleans(), label="real email"))
    with collected_logs() as logs:
        reply = stack.invoke(function, case.event)
    event(f"status {assert_valid_http_reply(reply)}")
    assert_no_secret_logged(logs.lines, case.secrets)
