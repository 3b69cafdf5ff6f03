"""One-time tokens (their shape and hash) and the mails (jobs and texts, CONTRACT §4, §7)."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from stateless_auth.domain.mail import (
    MAX_JOB_BYTES,
    RATE_LIMITED,
    SERVICE_NAME,
    MailJob,
    MailKind,
    MalformedJob,
    render,
)
from stateless_auth.domain.one_time_tokens import (
    hash_one_time_token,
    new_one_time_token,
    well_formed,
)
from tests.support.mail import links_in, token_in

APP = "https://app.example.test"
ANN = "ann@example.com"

# --- one-time tokens -----------------------------------------------------------------


def test_a_token_carries_256_random_bits_in_url_safe_characters() -> None:
    tokens = {new_one_time_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
        assert len(base64.urlsafe_b64decode(token + "=")) == 32
        assert well_formed(token)


def test_a_token_is_stored_as_its_sha256() -> None:
    token = new_one_time_token()
    assert hash_one_time_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert hash_one_time_token(token) != token
    assert len({hash_one_time_token(new_one_time_token()) for _ in range(50)}) == 50


@pytest.mark.parametrize(
    "token",
    ["", "short", "x" * 31, "x" * 129, "a" * 40 + "=", "a" * 40 + "/", "a" * 40 + " ", "é" * 40],
)
def test_a_malformed_token_is_refused_before_any_read(token: str) -> None:
    assert not well_formed(token)


def test_lengths_either_side_of_the_limits() -> None:
    assert well_formed("x" * 32)
    assert well_formed("x" * 128)


# --- mail jobs -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(MailKind))
def test_a_job_survives_its_json(kind: MailKind) -> None:
    job = MailJob(kind, ANN, password_set_id="p1" if kind is MailKind.VERIFY_EMAIL else "")
    assert MailJob.from_json(job.to_json()) == job
    body = json.loads(job.to_json())
    assert body["kind"] == kind
    assert body["email"] == ANN
    assert body["job_id"] == job.job_id
    assert set(body) <= {"kind", "email", "job_id", "password_set_id"}  # no token, no hash


def test_each_job_has_an_id_of_its_own() -> None:
    assert (
        MailJob(MailKind.RESET_PASSWORD, ANN).job_id != MailJob(MailKind.RESET_PASSWORD, ANN).job_id
    )


def test_the_rate_limited_kinds_are_the_ones_a_stranger_can_trigger() -> None:
    assert {
        MailKind.VERIFY_EMAIL,
        MailKind.VERIFY_EMAIL_RESEND,
        MailKind.SIGNUP_ATTEMPT,
        MailKind.RESET_PASSWORD,
    } == RATE_LIMITED


GOOD = {"kind": "reset_password", "email": ANN, "job_id": "j1"}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        '"a string"',
        json.dumps({**GOOD, "kind": "phishing"}),
        json.dumps({k: v for k, v in GOOD.items() if k != "kind"}),
        json.dumps({**GOOD, "email": "no-address"}),
        json.dumps({**GOOD, "email": 5}),
        json.dumps({k: v for k, v in GOOD.items() if k != "email"}),
        json.dumps({**GOOD, "job_id": ""}),
        json.dumps({**GOOD, "job_id": 7}),
        json.dumps({k: v for k, v in GOOD.items() if k != "job_id"}),
        json.dumps({**GOOD, "password_set_id": ["p1"]}),
        json.dumps({**GOOD, "padding": "x" * MAX_JOB_BYTES}),
    ],
)
def test_a_message_that_is_not_one_of_our_jobs_is_malformed(text: str) -> None:
    with pytest.raises(MalformedJob):
        MailJob.from_json(text)


# --- the texts -------------------------------------------------------------------------

WITH_LINKS = {
    MailKind.VERIFY_EMAIL: "verify-email",
    MailKind.VERIFY_EMAIL_RESEND: "verify-email",
    MailKind.RESET_PASSWORD: "reset-password",
}
WHAT_HAPPENED = {
    MailKind.VERIFY_EMAIL: "signed up",
    MailKind.VERIFY_EMAIL_RESEND: "signed up",
    MailKind.SIGNUP_ATTEMPT: "tried to sign up",
    MailKind.RESET_PASSWORD: "reset the password",
    MailKind.PASSWORD_CHANGED: "was just changed",
    MailKind.ACCOUNT_DELETED: "was deleted",
    MailKind.MFA_ENABLED: "Two-step verification was turned on",
    MailKind.MFA_DISABLED: "Two-step verification was turned off",
    MailKind.RECOVERY_CODE_USED: "A recovery code was just used",
    MailKind.RECOVERY_CODES_RENEWED: "New recovery codes were made",
}


@pytest.mark.parametrize("kind", list(MailKind))
def test_every_mail_names_the_service_what_happened_and_what_if_it_was_not_you(
    kind: MailKind,
) -> None:
    token = new_one_time_token() if kind in WITH_LINKS else ""
    message = render(kind, app_url=APP, token=token, ttl_seconds=1800, email=ANN)
    assert SERVICE_NAME in message.subject
    assert SERVICE_NAME in message.text
    assert ANN in message.text
    assert WHAT_HAPPENED[kind] in message.text
    assert "If this was not you" in message.text
    assert "?token" not in message.text
    assert "<" not in message.text  # plain text
    assert "\n" not in message.subject


@pytest.mark.parametrize("kind", list(WITH_LINKS))
def test_links_carry_the_token_in_the_fragment(kind: MailKind) -> None:
    token = new_one_time_token()
    message = render(kind, app_url=APP, token=token, ttl_seconds=86400, email=ANN)
    assert links_in(message.text) == [(APP, WITH_LINKS[kind], token)]
    assert f"{APP}/{WITH_LINKS[kind]}#token={token}" in message.text
    assert message.text.count(token) == 1
    assert token not in message.subject


@pytest.mark.parametrize(
    "kind", [MailKind.SIGNUP_ATTEMPT, MailKind.PASSWORD_CHANGED, MailKind.ACCOUNT_DELETED]
)
def test_notices_carry_no_token(kind: MailKind) -> None:
    message = render(kind, app_url=APP, email=ANN)
    assert "#token=" not in message.text
    assert links_in(message.text) == []


def test_the_signup_attempt_says_to_log_in_or_reset() -> None:
    text = render(MailKind.SIGNUP_ATTEMPT, app_url=APP, email=ANN).text
    assert "log in" in text
    assert f"{APP}/reset-password" in text
    assert "Nothing was changed" in text


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(86400, "24 hours"), (3600, "1 hour"), (1800, "30 minutes"), (300, "5 minutes")],
)
def test_the_link_lifetime_is_said_in_words(seconds: int, said: str) -> None:
    text = render(
        MailKind.RESET_PASSWORD, app_url=APP, token="t" * 43, ttl_seconds=seconds, email=ANN
    ).text
    assert f"within {said}" in text


def test_the_tests_read_the_token_back() -> None:
    token = new_one_time_token()
    text = render(MailKind.VERIFY_EMAIL, app_url=APP, token=token, ttl_seconds=600, email=ANN).text
    assert token_in(text, "verify_email", app_url=APP) == token
