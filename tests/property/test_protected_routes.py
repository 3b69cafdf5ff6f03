"""The handlers behind the authorizer (sessions, account, me, mfa) with arbitrary payload 2.0
events and arbitrary authorizer contexts (missing, empty, wrong types, an unknown user,
a real session's): never raises, a valid payload 2.0 response below 500 with a JSON
error body for every status >= 400, and no password, token or cookie value of the event
in any log line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tests.property.checks import (
    assert_no_secret_logged,
    assert_valid_http_reply,
    collected_logs,
)
from tests.property.strategies import authorizer_contexts, http_events
from tests.support.handlers import Stack, stack_in_moto

FUNCTIONS = (
    "sessions",
    "account",
    "me",
    "mfa",
    "authorizer",
    "login",
    "signup",
    "verify_email",
    "mailer",
)
EMAIL = "property-protected@example.com"
PASSWORD = "a protected property passphrase 42"

ROUTES = [
    ("sessions", "sessions_list.json", None),
    ("sessions", "sessions_delete.json", None),
    ("sessions", "logout_all.json", None),
    ("account", "password_change.json", None),
    ("account", "account_delete.json", None),
    ("me", "me.json", None),
    ("mfa", "mfa_enroll.json", None),
    ("mfa", "mfa_confirm.json", None),
    ("mfa", "mfa_recovery_codes.json", None),
    ("mfa", "mfa_disable.json", None),
]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with stack_in_moto(FUNCTIONS) as stack:
        stack.sign_up_verified(EMAIL, PASSWORD)
        yield stack


@pytest.fixture(scope="module")
def real_contexts(stack: Stack) -> list[dict[str, Any]]:
    """What the authorizer passes on for two real sessions of a real account."""
    return [
        stack.authorizer_context(stack.log_in(EMAIL, PASSWORD)["access_token"]) for _ in range(2)
    ]


@pytest.mark.parametrize(("function", "template", "route_key"), ROUTES)
@given(data=st.data())
def test_protected_route_answers_every_event(
    stack: Stack,
    real_contexts: list[dict[str, Any]],
    function: str,
    template: str,
    route_key: str | None,
    data: st.DataObject,
) -> None:
    case = data.draw(
        http_events(template, route_key=route_key, authorizers=authorizer_contexts(real_contexts)),
        label="event",
    )
    with collected_logs() as logs:
        reply = stack.invoke(function, case.event)
    event(f"status {assert_valid_http_reply(reply)}")
    assert_no_secret_logged(logs.lines, case.secrets)
