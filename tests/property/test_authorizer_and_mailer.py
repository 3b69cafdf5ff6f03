"""The authorizer function and the mailer with arbitrary events, against moto.

The authorizer: any event (headers of every shape, JWT-shaped strings signed by keys that
are not the stack's, the stack's own token with other casing and spacing) is answered with
a simple response, never an exception; only the stack's own valid token is allowed, and
no token reaches a log line. The mailer: SQS records whose bodies are anything (not
JSON, JSON of every type, jobs with wrong fields, jobs for unknown and odd addresses)
never make it raise; it answers {"batchItemFailures": [...]} naming only its records,
and no send fails here (SES does not), so none is reported.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from localapi.queues import sqs_record
from stateless_auth.domain.mail import MailKind
from tests.property.checks import assert_no_secret_logged, collected_logs
from tests.property.strategies import any_text, huge_text, json_values
from tests.property.test_token_verifier import tokens
from tests.support.events import load_event
from tests.support.handlers import Stack, stack_in_moto
from tests.support.settings import REGION

EMAIL = "property-authorizer@example.com"
PASSWORD = "an authorizer property passphrase 42"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with stack_in_moto(("authorizer", "mailer", "signup", "verify_email", "login")) as stack:
        stack.sign_up_verified(EMAIL, PASSWORD)
        yield stack


@pytest.fixture(scope="module")
def real_token(stack: Stack) -> str:
    return str(stack.log_in(EMAIL, PASSWORD)["access_token"])


@st.composite
def authorizer_events(draw: st.DrawFn, real_token: str) -> tuple[Any, str | None, bool]:
    """(event, the token it carries, whether it must be allowed)."""
    event = load_event("authorizer_valid.json")
    kind = draw(st.sampled_from(["jwt", "jwt", "real", "real", "headers", "shape"]))
    token: str | None = None
    allowed = False
    if kind == "jwt":
        token = draw(tokens())[0]  # signed, if at all, by keys the stack does not trust
    elif kind == "real":
        token = real_token
        mangled = draw(st.sampled_from(["as is", "as is", "cut", "extra", "case"]))
        if mangled == "cut":
            token = token[: draw(st.integers(0, len(token) - 1))]
        elif mangled == "extra":
            token = token + draw(st.sampled_from(["x", ".", "=", " x", "é"]))
        elif mangled == "case":
            token = token.swapcase()
        allowed = mangled == "as is"
    if token is not None:
        scheme = draw(st.sampled_from(["Bearer ", "bearer ", "BEARER  ", "Basic ", "Bearer"]))
        name = draw(st.sampled_from(["authorization", "Authorization", "AUTHORIZATION", "auth"]))
        allowed = allowed and scheme.strip().lower() == "bearer" and scheme != "Bearer"
        allowed = allowed and name.lower() == "authorization"
        headers = {"host": "api.example.test", name: scheme + token}
        event["headers"] = headers
        event["identitySource"] = [scheme + token]
    elif kind == "headers":
        event["headers"] = draw(
            st.dictionaries(
                st.one_of(st.just("authorization"), any_text),
                st.one_of(any_text, huge_text, json_values),
                max_size=4,
            )
        )
    else:
        event = draw(st.one_of(json_values, st.just({"headers": None}), st.just({})))
    return event, token, allowed


@given(data=st.data())
def test_the_authorizer_allows_only_the_stacks_own_valid_tokens(
    stack: Stack, real_token: str, data: st.DataObject
) -> None:
    authorizer_event, token, allowed = data.draw(authorizer_events(real_token), label="event")
    with collected_logs() as logs:
        decision = stack.invoke("authorizer", authorizer_event)
    assert isinstance(decision, dict)
    assert isinstance(decision.get("isAuthorized"), bool)
    event(f"allowed {decision['isAuthorized']}")
    assert decision["isAuthorized"] is allowed, (decision, token)
    if not allowed:
        assert decision == {"isAuthorized": False}
    assert_no_secret_logged(logs.lines, [token] if token and len(token) >= 12 else [])


job_bodies = st.one_of(
    any_text,
    huge_text,
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {
            "kind": st.one_of(st.sampled_from([k.value for k in MailKind]), json_values),
            "email": st.one_of(
                st.emails(), st.just(EMAIL), st.just(EMAIL.upper()), any_text, json_values
            ),
            "job_id": st.one_of(st.uuids().map(str), json_values),
        },
        optional={"password_set_id": st.one_of(any_text, json_values)},
    ).map(json.dumps),
)


@given(st.lists(job_bodies, min_size=1, max_size=4))
def test_the_mailer_handles_any_record(stack: Stack, bodies: list[str]) -> None:
    messages = [
        {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": "property-test",
            "Body": body,
            "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795708800000"},
            "MessageAttributes": {},
            "MD5OfBody": "",
        }
        for body in bodies
    ]
    arn = f"arn:aws:sqs:{REGION}:123456789012:property-mail"
    sqs_event = {"Records": [sqs_record(m, arn, REGION) for m in messages]}
    reply = stack.invoke("mailer", sqs_event)
    assert isinstance(reply, dict)
    assert set(reply) == {"batchItemFailures"}, reply
    failures = reply["batchItemFailures"]
    ids = {m["MessageId"] for m in messages}
    assert all(item["itemIdentifier"] in ids for item in failures), reply
    event(f"failures {len(failures)}")
    assert failures == [], reply
