"""Security review of issue 14 (the second factor), as an attacker sees it.

Each test named ``test_FINDING_*`` demonstrates a weakness and FAILS on the code under
review (it asserts what the fix must make true). The ``test_guard_*`` tests pass: they
try a real attack that the change does hold, and stay as regression guards.

Findings (see the review report for severity and fixes):

- F1 a password reset refills the second factor's guessing budget (the reset ends the
  lock-out that wrong codes built up), so whoever holds the mailbox guesses codes far
  beyond MAX_FAILED_LOGINS per LOCKOUT_SECONDS;
- F2 a password change (the password alone, from any session, e.g. the aal1 session MFA
  was turned on from) clears the failure count, so wrong codes are unlimited: guess
  MAX_FAILED_LOGINS - 1 codes, change the password, repeat;
- F3 a password-only login that read the account just before MFA was turned on opens an
  aal1 session after it is on (the session's write is not conditioned on "no factor");
- F4 an enrolment mfa_token (purpose enroll) is bound to nothing the account can change:
  it outlives a password reset and is still honoured at the enrolment routes.

In process (the functions' handlers over moto, tests/support/handlers.py) and over the
in-memory stores (tests/support/fakes.py) where an interleaving must be deterministic.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stateless_auth.domain.accounts import User
from stateless_auth.domain.errors import LoginFailed, TooManyAttempts
from stateless_auth.domain.sessions import (
    AccountChanged,
    SessionInfo,
    TokenGrant,
    TokenRecord,
    TokenState,
)
from stateless_auth.storage.sessions import SessionRepository
from stateless_auth.storage.users import UserRepository
from tests.support.aws import create_tables
from tests.support.clock import Clock
from tests.support.events import body, error_of, with_bearer, with_json_body
from tests.support.fakes import FakeSessions, FakeUsers, Flows, caller_of, totp_at
from tests.support.flows import flows_over
from tests.support.handlers import Stack, import_handler, invoke, stack_in_moto
from tests.support.local_mail import unique_address
from tests.support.mfa import Authenticator, concurrently, unverified_segments
from tests.support.paths import HANDLER_NAMES
from tests.support.settings import ISSUER

pytestmark = [
    pytest.mark.xdist_group("security-mfa-review"),
    pytest.mark.filterwarnings("ignore:No application metrics to publish"),
]

PASSWORD = "the owner's own long passphrase"
NEW_PASSWORDS = [f"an attacker's chosen passphrase number {i}" for i in range(10)]
MAX_FAILED_LOGINS = 3
# An operator who followed docs/mfa.md ("a longer LOCKOUT_SECONDS shrinks the budget"):
# three wrong codes a day.
LOCKOUT_SECONDS = 86400


# -- the stack, in process ------------------------------------------------------------------


@dataclass
class Required:
    """The login and the enrolment authorizer as deployed with Mfa=required."""

    login: ModuleType
    enrollment_authorizer: ModuleType


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("MAX_FAILED_LOGINS", str(MAX_FAILED_LOGINS))
        environment.setenv("LOCKOUT_SECONDS", str(LOCKOUT_SECONDS))
        environment.setenv("MAX_EMAILS_PER_HOUR", "50")
        with stack_in_moto(HANDLER_NAMES) as built:
            yield built


@pytest.fixture(scope="module")
def required(stack: Stack) -> Required:
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("MFA", "required")
        login = import_handler("login", module_name="review_login_mfa_required")
        environment.setenv("ACCEPT_MFA_ENROLLMENT_TOKENS", "true")
        enrollment = import_handler("authorizer", module_name="review_enrollment_authorizer")
    return Required(login, enrollment)


@dataclass
class Enrolled:
    email: str
    app: Authenticator
    codes: list[str]
    access_token: str  # of the password-only (aal1) session MFA was turned on from
    secret: str
    otpauth_uri: str


def enrolled(stack: Stack, email: str) -> Enrolled:
    stack.sign_up_verified(email, PASSWORD)
    access = stack.log_in(email, PASSWORD)["access_token"]
    started = stack.call("mfa", "mfa_enroll.json", access, payload={"password": PASSWORD})
    assert started["statusCode"] == 200, started
    secret, uri = body(started)["secret"], body(started)["otpauth_uri"]
    app = Authenticator(secret)
    confirmed = stack.call("mfa", "mfa_confirm.json", access, payload={"code": app.code()})
    assert confirmed["statusCode"] == 200, confirmed
    return Enrolled(email, app, list(body(confirmed)["recovery_codes"]), access, secret, uri)


def login(stack: Stack, email: str, password: str) -> dict[str, Any]:
    event = with_json_body(
        "login_ok.json", {"email": email, "password": password, "refresh_token_delivery": "body"}
    )
    return stack.invoke("login", event)


def verify(stack: Stack, token: str, **fields: Any) -> dict[str, Any]:
    return stack.invoke(
        "mfa_verify", with_json_body("mfa_verify.json", {"mfa_token": token, **fields})
    )


def guess(stack: Stack, account: Enrolled, password: str) -> tuple[int, str]:
    """One wrong code, with a fresh mfa_token from the password: (status, error). A 429
    at the login itself counts as the guess being refused."""
    answer = login(stack, account.email, password)
    if answer["statusCode"] != 200:
        return error_of(answer)
    return error_of(verify(stack, body(answer)["mfa_token"], code=account.app.wrong_code()))


def clear_failures(stack: Stack, email: str) -> None:
    """The tests' own write: no failed password (the FAILED# item) and no wrong code (the
    account's own count) counted for the email."""
    table = stack.tables["UsersTable"]
    stack.dynamodb.delete_item(TableName=table, Key={"pk": {"S": f"FAILED#{email}"}})
    stack.dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": f"EMAIL#{email}"}},
        UpdateExpression="REMOVE code_failures, last_code_failure_at",
        ConditionExpression="attribute_exists(user_id)",
    )


def reset_password(stack: Stack, email: str, new_password: str) -> None:
    """What whoever reads the mailbox can do: ask for a link and follow it."""
    forgot = with_json_body("password_forgot.json", {"email": email})
    assert stack.invoke("password_reset", forgot)["statusCode"] == 202
    stack.run_mailer()
    link = stack.link_token(email, "reset_password")
    reset = with_json_body("password_reset.json", {"token": link, "password": new_password})
    reply = stack.invoke("password_reset", reset)
    assert reply["statusCode"] == 204, reply


CHECKED = (401, "invalid_credentials")  # a wrong code that was checked (and counted)
REFUSED = (429, "too_many_attempts")  # a guess the lock-out held


# -- F1: a password reset refills the code-guessing budget ------------------------------------


def test_FINDING_F1_a_password_reset_does_not_refill_the_code_guessing_budget(
    stack: Stack,
) -> None:
    """Someone who reads the owner's mail (the case a second factor is for) resets the
    password at will. Each reset ends the lock-out that the wrong codes built, so the
    codes are guessed MAX_FAILED_LOGINS times per reset link instead of per
    LOCKOUT_SECONDS (here a day): the second factor's budget is the mail rate limit's.
    Expected: wrong codes stay counted through a reset (the reset may end the password's
    lock-out, not the second factor's)."""
    victim = enrolled(stack, unique_address("f1-reset"))
    password = PASSWORD
    checked = 0
    for new_password in NEW_PASSWORDS[:3]:
        for _ in range(MAX_FAILED_LOGINS + 1):
            outcome = guess(stack, victim, password)
            assert outcome in (CHECKED, REFUSED), outcome
            checked += outcome == CHECKED
        reset_password(stack, victim.email, new_password)
        password = new_password
    # Three wrong codes may be checked per lock-out period, whatever the resets between.
    assert checked <= MAX_FAILED_LOGINS, f"{checked} wrong codes checked within one lock-out"


# -- F2: a password change clears the failure count -----------------------------------------


def test_FINDING_F2_a_password_change_does_not_clear_the_wrong_codes(stack: Stack) -> None:
    """A thief with the password and a session (here the aal1 session MFA was turned on
    from, which enrolling leaves open; docs/mfa.md) guesses MAX_FAILED_LOGINS - 1 codes,
    changes the password (the password alone: it clears the email's failure count) and
    guesses again: unlimited guesses at the speed of the API, never a lock-out. The same
    loop works at DELETE /auth/mfa (turning MFA off by brute force) and at
    /auth/mfa/recovery-codes. Expected: the wrong codes stay counted until a second
    factor succeeds."""
    victim = enrolled(stack, unique_address("f2-change"))
    password, checked = PASSWORD, 0
    for new_password in NEW_PASSWORDS[:4]:
        for _ in range(MAX_FAILED_LOGINS - 1):
            outcome = guess(stack, victim, password)
            assert outcome in (CHECKED, REFUSED), outcome
            checked += outcome == CHECKED
        changed = stack.call(
            "account",
            "password_change.json",
            victim.access_token,
            payload={"current_password": password, "new_password": new_password},
        )
        if changed["statusCode"] != 204:  # the fix may refuse it while codes are failing
            break
        password = new_password
    assert checked <= MAX_FAILED_LOGINS, f"{checked} wrong codes checked within one lock-out"


def test_FINDING_F2_turning_mfa_off_is_brute_forced_with_password_changes(
    stack: Stack,
) -> None:
    """F2 aimed at DELETE /auth/mfa: with the password and any session, wrong codes at the
    turn-off are one failure each, and a password change between batches wipes them."""
    victim = enrolled(stack, unique_address("f2-disable"))
    password, checked = PASSWORD, 0
    for new_password in NEW_PASSWORDS[:4]:
        for _ in range(MAX_FAILED_LOGINS - 1):
            off = stack.call(
                "mfa",
                "mfa_disable.json",
                victim.access_token,
                payload={"password": password, "code": victim.app.wrong_code()},
            )
            outcome = error_of(off)
            assert outcome in (CHECKED, REFUSED), outcome
            checked += outcome == CHECKED
        changed = stack.call(
            "account",
            "password_change.json",
            victim.access_token,
            payload={"current_password": password, "new_password": new_password},
        )
        if changed["statusCode"] != 204:
            break
        password = new_password
    assert checked <= MAX_FAILED_LOGINS, f"{checked} wrong codes checked within one lock-out"


# -- F3: a password-only login racing the confirm ---------------------------------------------


ANN = "ann@example.com"


@pytest.fixture
def clock() -> Clock:
    now = int(Clock.wall()())
    return Clock(float(now - now % 30 + 1))


@pytest.fixture
def service(clock: Clock) -> Flows:
    users = FakeUsers()
    flows = flows_over(
        users,
        sessions=FakeSessions(users),
        clock=clock,
        MAX_FAILED_LOGINS=str(MAX_FAILED_LOGINS),
    )
    flows.signup_verified(ANN, PASSWORD)
    flows.mail.take()
    return flows


def test_FINDING_F3_a_login_racing_the_confirm_opens_no_password_only_session(
    service: Flows, clock: Clock
) -> None:
    """The owner turns MFA on while a thief with the password logs in: the thief's login
    read the account before the confirm and writes its session after it. The session
    write checks the account's id, epoch and password hash, not that it still has no
    factor, so a password alone opens a session on an account with MFA on.
    Expected: the login answers mfa_required (or is refused), never a session."""
    owner = service.login(ANN, PASSWORD, issuer=ISSUER)
    secret = service.enroll_totp(caller_of(owner), PASSWORD).secret
    service.sessions.once_before(
        "create", lambda: service.confirm_totp(caller_of(owner), totp_at(secret, clock.now))
    )
    answer = service.start_login(ANN, PASSWORD, issuer=ISSUER)
    assert service.users.items[ANN].totp_secret == secret  # MFA is on
    assert not isinstance(answer, TokenGrant), (
        "a password-only session was opened after MFA was turned on: "
        f"amr {unverified_segments(answer.access_token)[1]['amr']}"
    )


def test_FINDING_F3_the_session_write_is_not_conditioned_on_no_second_factor() -> None:
    """F3 against the DynamoDB repositories (moto): a session without a factor, for the
    account as read before MFA was turned on, is written after it is on."""
    email = f"f3-{uuid.uuid4().hex}@example.com"  # the tables may be another test's
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        # Another moto mock of this worker may have made the template's tables already:
        # use them, with an account of this test's own.
        if client.list_tables()["TableNames"]:
            tables = {"UsersTable": "UsersTable", "SessionsTable": "SessionsTable"}
        else:
            tables = create_tables(client)
        users = UserRepository(client, tables["UsersTable"])
        sessions = SessionRepository(
            client, tables["SessionsTable"], users_table=tables["UsersTable"]
        )
        users.create(User(user_id="u1", email=email, password_hash="$argon2id$x", created_at=1))
        before = users.get_by_email(email)
        assert before is not None
        assert not before.mfa_enabled
        now = int(Clock.wall()())
        users.start_totp_enrollment(before, secret="JBSWY3DPEHPK3PXP" * 2, expires_at=now + 600)
        users.enable_totp(
            before,
            secret="JBSWY3DPEHPK3PXP" * 2,
            step=now // 30,
            recovery_codes={"aaaa": "$argon2id$h"},
            now=now,
        )
        record = TokenRecord(
            token_hash="h1",
            session_id="s1",
            user_id="u1",
            email=email,
            roles=(),
            state=TokenState.CURRENT,
            session_expires_at=now + 3600,
        )
        with pytest.raises(AccountChanged):
            sessions.create(
                record,
                now=now,
                account=before,
                session=SessionInfo("s1", now, now, now + 3600, "agent", "192.0.2.1"),
                clear_failures_of=email,
            )


# -- F4: the enrolment token outlives a password reset ----------------------------------------


def test_FINDING_F4_an_enrolment_token_dies_with_the_password_it_was_issued_for(
    stack: Stack, required: Required
) -> None:
    """Mfa=required: a thief logs in with a phished password and keeps the enrolment
    mfa_token. The owner resets the password (which "ends every session") and starts
    enrolling. The thief's token, issued for the old password, still passes the
    enrolment authorizer and is still taken by /confirm: its wrong codes count against
    the owner's lock-out, and a right one would hand it the owner's recovery codes. Its
    psid and epoch claims are never checked (mfa_tokens.py says a reset voids it).
    Expected: after the reset the token is refused (401/403)."""
    email = unique_address("f4-enrolment")
    stack.sign_up_verified(email, PASSWORD)
    stolen = invoke(
        required.login, with_json_body("login_ok.json", {"email": email, "password": PASSWORD})
    )
    assert body(stolen)["mfa_enrollment_required"] is True, stolen
    thief_token = body(stolen)["mfa_token"]
    reset_password(stack, email, NEW_PASSWORDS[0])
    # The owner logs in with the new password and begins enrolling.
    fresh = invoke(
        required.login,
        with_json_body("login_ok.json", {"email": email, "password": NEW_PASSWORDS[0]}),
    )
    owner_token = body(fresh)["mfa_token"]
    owner_context = invoke(
        required.enrollment_authorizer,
        with_bearer("authorizer_mfa_enrollment.json", owner_token),
    )["context"]
    started = stack.invoke(
        "mfa", _with_context("mfa_enroll.json", {"password": NEW_PASSWORDS[0]}, owner_context)
    )
    assert started["statusCode"] == 200, started
    owner_app = Authenticator(body(started)["secret"])
    # The thief's token, from before the reset:
    decision = invoke(
        required.enrollment_authorizer,
        with_bearer("authorizer_mfa_enrollment.json", thief_token),
    )
    if decision["isAuthorized"] is not True:
        return  # refused at the gateway: fixed
    confirmed = stack.invoke(
        "mfa", _with_context("mfa_confirm.json", {"code": owner_app.code()}, decision["context"])
    )
    assert confirmed["statusCode"] in (401, 403), (
        "an enrolment token issued before the reset confirmed the owner's new enrolment: "
        f"{confirmed['statusCode']} {body(confirmed)}"
    )


def _with_context(name: str, payload: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    event = with_json_body(name, payload)
    event["requestContext"] = {**event["requestContext"], "authorizer": {"lambda": context}}
    return event


# -- guards: attacks the change holds ---------------------------------------------------------


def test_guard_alternating_password_logins_and_wrong_codes_at_once_stay_within_the_budget(
    service: Flows, clock: Clock
) -> None:
    """The released reservation of a right-password login is not a free slot: twenty
    logins and twenty wrong codes released together check at most MAX_FAILED_LOGINS
    codes, and the email ends locked."""
    owner = service.login(ANN, PASSWORD, issuer=ISSUER)
    service.enable_mfa(caller_of(owner), PASSWORD)
    tokens = [service.mfa_token_for(ANN, PASSWORD, issuer=ISSUER) for _ in range(20)]

    def log_in() -> str:
        try:
            service.start_login(ANN, PASSWORD, issuer=ISSUER)
        except TooManyAttempts:
            return "locked"
        return "token"

    def wrong(index: int) -> Any:
        def call() -> str:
            try:
                service.verify_mfa(tokens[index], issuer=ISSUER, code="000000")
            except LoginFailed:
                return "checked"
            except TooManyAttempts:
                return "locked"
            return "opened"

        return call

    calls = [log_in if i % 2 else wrong(i // 2) for i in range(40)]
    outcomes = concurrently(*calls)
    assert "opened" not in outcomes
    assert outcomes.count("checked") <= MAX_FAILED_LOGINS, outcomes
    # Every release took back its own login's reservation and nothing else: the record
    # counts exactly the wrong codes that were checked.
    assert service.users.items[ANN].code_failures.count == outcomes.count("checked"), outcomes


MALFORMED: list[Any] = [
    None,
    123456,
    12.5,
    True,
    [],
    {},
    "",
    "\x00",
    "12345\x00",
    "１２３４５６",  # fullwidth digits
    "١٢٣٤٥٦",  # Arabic-Indic digits
    "\ud800",  # a lone surrogate
    "x" * 65,
    "x" * 8000,
    "abcd-efgh-ijkl-mnop-qrs\u212a",  # Kelvin sign, lower-cases to k
    " 1 2 3 4 5 6 ",
]


def test_guard_malformed_factors_at_the_new_routes_answer_4xx_never_5xx(stack: Stack) -> None:
    victim = enrolled(stack, unique_address("malformed"))
    answer = login(stack, victim.email, PASSWORD)
    token = body(answer)["mfa_token"]
    for value in MALFORMED:
        for fields in ({"code": value}, {"recovery_code": value}):
            events = {
                "verify": (
                    "mfa_verify",
                    with_json_body("mfa_verify.json", {"mfa_token": token, **fields}),
                ),
                "renew": (
                    "mfa",
                    stack.authorized(
                        "mfa_recovery_codes.json",
                        victim.access_token,
                        payload={"password": PASSWORD, **fields},
                    ),
                ),
                "disable": (
                    "mfa",
                    stack.authorized(
                        "mfa_disable.json",
                        victim.access_token,
                        payload={"password": PASSWORD, **fields},
                    ),
                ),
                "confirm": (
                    "mfa",
                    stack.authorized("mfa_confirm.json", victim.access_token, payload=fields),
                ),
            }
            for route, (function, event) in events.items():
                reply = stack.invoke(function, event)
                assert 400 <= reply["statusCode"] < 500, (route, repr(value)[:40], reply)
        # Each checked guess counts: start every value with a clean record.
        clear_failures(stack, victim.email)
    for bad_token in (None, 7, "", "a.b.c", token[:-2] + "\u00e9\u00e9", token + "." + "A" * 9000):
        reply = verify(stack, bad_token, code="123456")  # type: ignore[arg-type]
        assert reply["statusCode"] in (400, 401), (repr(bad_token)[:40], reply)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + json.dumps(record.__dict__, default=str))


def test_guard_the_second_factors_secrets_never_reach_a_log_line(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """The TOTP secret and its URI, the recovery codes (as shown and as typed), the
    mfa_token and the tokens a verify gives, and the hashes, through every new route and
    its refusals."""
    collect = _Collect()
    logger = logging.getLogger("stateless-auth")
    logger.addHandler(collect)
    try:
        victim = enrolled(stack, unique_address("hygiene"))
        token = body(login(stack, victim.email, PASSWORD))["mfa_token"]
        verify(stack, token, code=victim.app.wrong_code())
        verify(stack, token, recovery_code=victim.codes[0].upper().replace("-", " "))
        opened = body(
            verify(
                stack,
                body(login(stack, victim.email, PASSWORD))["mfa_token"],
                code=victim.app.code(),
            )
        )
        renewed = stack.call(
            "mfa",
            "mfa_recovery_codes.json",
            victim.access_token,
            payload={"password": PASSWORD, "recovery_code": victim.codes[1]},
        )
        new_codes = body(renewed)["recovery_codes"]
        stack.call(
            "mfa",
            "mfa_disable.json",
            victim.access_token,
            payload={"password": PASSWORD, "recovery_code": new_codes[0]},
        )
        stack.run_mailer()
    finally:
        logger.removeHandler(collect)
    everything = "\n".join(collect.lines) + "\n" + capsys.readouterr().out
    secrets = [
        victim.secret,
        victim.otpauth_uri,
        token,
        opened.get("access_token", "-"),
        opened.get("refresh_token", "-"),
        *victim.codes,
        *(code.replace("-", "") for code in victim.codes),
        *new_codes,
    ]
    for secret in secrets:
        assert secret not in everything, secret[:12]
    for needle in ("$argon2", "otpauth://", '"password"', 'mfa_token":'):
        assert needle not in everything, needle


def test_guard_a_factor_used_on_one_route_is_refused_on_every_other(stack: Stack) -> None:
    """Sequential replay across routes: a recovery code that logged in neither renews nor
    turns MFA off; a TOTP code that renewed the codes neither logs in nor turns MFA off;
    a recovery code of the replaced set logs in nowhere."""
    victim = enrolled(stack, unique_address("replay-routes"))

    def renew(**factor: str) -> dict[str, Any]:
        return stack.call(
            "mfa",
            "mfa_recovery_codes.json",
            victim.access_token,
            payload={"password": PASSWORD, **factor},
        )

    def disable(**factor: str) -> dict[str, Any]:
        return stack.call(
            "mfa", "mfa_disable.json", victim.access_token, payload={"password": PASSWORD, **factor}
        )

    def fresh_verify(**factor: str) -> dict[str, Any]:
        return verify(stack, body(login(stack, victim.email, PASSWORD))["mfa_token"], **factor)

    used_recovery = victim.codes[0]
    assert fresh_verify(recovery_code=used_recovery)["statusCode"] == 200
    assert error_of(renew(recovery_code=used_recovery)) == CHECKED
    assert error_of(disable(recovery_code=used_recovery)) == CHECKED
    code = victim.app.code()
    renewed = renew(code=code)
    assert renewed["statusCode"] == 200, renewed
    assert error_of(fresh_verify(code=code)) == CHECKED
    assert error_of(disable(code=code)) == CHECKED
    clear_failures(stack, victim.email)
    assert error_of(fresh_verify(recovery_code=victim.codes[1])) == CHECKED  # the old set
    item = stack.dynamodb.get_item(
        TableName=stack.tables["UsersTable"], Key={"pk": {"S": f"EMAIL#{victim.email}"}}
    )["Item"]
    assert "totp_secret" in item
