"""The second factor as an attacker sees it (issue 14): someone with the password but not
the authenticator, with a phished code, with a stolen access token, or with a token they
made themselves.

Over real HTTP through a local API under `MFA=required` (so every account enrols with
its enrolment token, and that token's limits are tried too): two verifies of one code,
or of one recovery code, at once (threads released together: exactly one wins, one
session opened, one notice); concurrent wrong codes and recovery codes held to the
failures left before the lock-out; a wrong password answering byte for byte as an
unknown email's (the second factor shows only after the right password); forged
mfa_tokens (alg none, HS256 over the public key, a foreign key, a tampered claim, an
access token or an enrolment token in its place); the enrolment token refused beyond the
enrolment routes; turning the factor off or renewing the codes without a code.

In process, over moto with the service's own signing key (tests/support/handlers.py):
mfa_tokens the service could have signed but must refuse (expired, not yet issued, the
access tokens' audience or `typ`, another issuer, another purpose, bound to an old
password or sessions epoch or to another account, a `crit` header).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from localapi.testing import running_local_api
from stateless_auth.tokens.keys import SigningKey
from tests.support import mfa
from tests.support.events import body, error_of, with_json_body
from tests.support.handlers import Stack, stack_in_moto
from tests.support.http_client import Client, Reply
from tests.support.local_mail import (
    Device,
    messages,
    settle,
    sign_up_and_verify,
    unique_address,
)
from tests.support.settings import AUDIENCE
from tests.support.timing import assert_within_factor, interleaved_medians

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("security-mfa"),
    pytest.mark.filterwarnings("ignore:No application metrics to publish"),
]
PASSWORD = "the owner's own long passphrase"
WRONG = "an attacker's wrong long passphrase"
MAX_FAILED_LOGINS = 5
LOCKOUT_SECONDS = 300
ROUNDS = 3
GUESSES = 12
PER_REQUEST_HEADERS = {"date", "apigw-requestid"}
USED_SUBJECT = "a recovery code was used"


@pytest.fixture(scope="module")
def api() -> Iterator[Client]:
    env = {
        "MFA": "required",
        "MAX_FAILED_LOGINS": str(MAX_FAILED_LOGINS),
        "LOCKOUT_SECONDS": str(LOCKOUT_SECONDS),
        "MAX_EMAILS_PER_HOUR": "50",
    }
    with running_local_api(env) as base_url:
        yield Client(base_url)


@dataclass
class Owner:
    email: str
    app: mfa.Authenticator
    recovery_codes: list[str]


def enrolment_token(api: Client, email: str) -> str:
    reply = mfa.log_in(api, email, PASSWORD)
    assert reply.status == 200, reply.raw
    assert reply.json()["mfa_enrollment_required"] is True, reply.raw
    return str(reply.json()["mfa_token"])


def owner(api: Client, name: str) -> Owner:
    """A verified account that enrolled at its first login (MFA=required)."""
    email = unique_address(name)
    sign_up_and_verify(api, email, PASSWORD)
    enrolled = mfa.enable_mfa(
        Device(api, "owner", access_token=enrolment_token(api, email)), PASSWORD
    )
    return Owner(email, enrolled.authenticator, enrolled.recovery_codes)


def assert_error(reply: Reply, status: int, error: str) -> None:
    assert (reply.status, reply.json().get("error")) == (status, error), reply.raw


def assert_locked(reply: Reply) -> None:
    assert_error(reply, 429, "too_many_attempts")
    assert 0 < int(reply.headers["Retry-After"]) <= LOCKOUT_SECONDS


def shape(reply: Reply) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted(
        (name.lower(), value)
        for name, value in reply.headers.items()
        if name.lower() not in PER_REQUEST_HEADERS
    )
    return reply.status, reply.raw, headers


def verifier(api: Client, token: str, **factor: str) -> Callable[[], Reply]:
    return lambda: mfa.verify(Device(api, "attacker"), token, **factor)


def sessions_of(api: Client, access_token: str) -> list[dict[str, Any]]:
    reply = api.send("GET", "/auth/sessions", headers={"Authorization": f"Bearer {access_token}"})
    assert reply.status == 200, reply.raw
    listed: list[dict[str, Any]] = reply.json()["sessions"]
    return listed


def one_winner(api: Client, replies: list[Reply], *, refused: str = "invalid_credentials") -> Reply:
    """Exactly one 200, the others 401 (``refused``) with no cookie; the winner's account
    has that one session."""
    statuses = sorted(reply.status for reply in replies)
    assert statuses == [200] + [401] * (len(replies) - 1), [r.raw for r in replies]
    (winner,) = [reply for reply in replies if reply.status == 200]
    for loser in (reply for reply in replies if reply.status != 200):
        assert loser.json()["error"] in {refused, "invalid_credentials"}, loser.raw
        assert loser.cookies() == []
    assert len(sessions_of(api, winner.json()["access_token"])) == 1
    return winner


# -- races -----------------------------------------------------------------------------


@pytest.mark.parametrize("same_token", [False, True], ids=["two-logins", "one-login"])
def test_two_concurrent_verifies_of_one_code_exactly_one_wins(
    api: Client, same_token: bool
) -> None:
    """A phished code raced against its owner: one login gets it, never both."""
    for round_ in range(ROUNDS):
        victim = owner(api, f"race-code-{round_}")
        first = mfa.mfa_token(api, victim.email, PASSWORD)
        second = first if same_token else mfa.mfa_token(api, victim.email, PASSWORD)
        code = victim.app.code()
        replies = mfa.concurrently(
            verifier(api, first, code=code), verifier(api, second, code=code)
        )
        # One token: the loser's may be refused as spent rather than for its code.
        one_winner(api, replies, refused="invalid_token" if same_token else "invalid_credentials")


def test_one_mfa_token_opens_one_session_even_with_two_good_codes_at_once(
    api: Client,
) -> None:
    """A stolen mfa_token raced with two codes of consecutive steps: one session."""
    victim = owner(api, "race-token")
    token = mfa.mfa_token(api, victim.email, PASSWORD)
    codes = [victim.app.code(), victim.app.code()]
    replies = mfa.concurrently(*(verifier(api, token, code=code) for code in codes))
    one_winner(api, replies, refused="invalid_token")
    # Afterwards the token is spent whatever the factor.
    spent = verifier(api, token, recovery_code=victim.recovery_codes[0])()
    assert_error(spent, 401, "invalid_token")


def test_two_concurrent_uses_of_one_recovery_code_exactly_one_wins(api: Client) -> None:
    for round_ in range(ROUNDS):
        victim = owner(api, f"race-recovery-{round_}")
        tokens = [mfa.mfa_token(api, victim.email, PASSWORD) for _ in range(2)]
        code = victim.recovery_codes[0]
        replies = mfa.concurrently(*(verifier(api, token, recovery_code=code) for token in tokens))
        winner = one_winner(api, replies)
        assert mfa.unverified_segments(winner.json()["access_token"])[1]["amr"] == ["pwd", "mfa"]
        settle(api)
        used = [m for m in messages(api, victim.email) if USED_SUBJECT in m["subject"]]
        assert len(used) == 1, [m["subject"] for m in messages(api, victim.email)]


def test_concurrent_wrong_codes_cannot_exceed_the_failures_left(api: Client) -> None:
    victim = owner(api, "guess-codes")
    token = mfa.mfa_token(api, victim.email, PASSWORD)
    already = 2
    for _ in range(already):
        assert_error(
            verifier(api, token, code=victim.app.wrong_code())(), 401, "invalid_credentials"
        )
    wrong = [f"{n:06d}" for n in range(GUESSES)]
    valid = {victim.app.code_of(mfa.current_step() + d) for d in (-1, 0, 1)}
    replies = mfa.concurrently(
        *(verifier(api, token, code=code) for code in wrong if code not in valid)
    )
    checked = [reply for reply in replies if reply.status == 401]
    assert 1 <= len(checked) <= MAX_FAILED_LOGINS - already, [r.raw for r in replies]
    for reply in replies:
        if reply.status == 401:
            assert_error(reply, 401, "invalid_credentials")
        else:
            assert_locked(reply)
    assert_locked(verifier(api, token, code=victim.app.code())())
    assert_locked(mfa.log_in(api, victim.email, PASSWORD))


def test_recovery_code_guessing_is_held_by_the_lockout(api: Client) -> None:
    victim = owner(api, "guess-recovery")
    token = mfa.mfa_token(api, victim.email, PASSWORD)
    # Well-formed guesses, the first one with a real code's public id (a hash checked).
    real_id = victim.recovery_codes[0][:4]
    guesses = [
        "-".join([real_id if i == 0 else _group(), *(_group() for _ in range(4))])
        for i in range(GUESSES)
    ]
    replies = mfa.concurrently(*(verifier(api, token, recovery_code=code) for code in guesses))
    checked = [reply for reply in replies if reply.status == 401]
    assert 1 <= len(checked) <= MAX_FAILED_LOGINS, [r.raw for r in replies]
    assert all(reply.status in (401, 429) for reply in replies), [r.raw for r in replies]
    assert_locked(verifier(api, token, recovery_code=victim.recovery_codes[0])())
    assert_locked(verifier(api, token, code=victim.app.code())())


def _group() -> str:
    return "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(4))


# -- what a password guess learns --------------------------------------------------------


def test_a_wrong_password_answers_as_an_unknown_email_whatever_the_second_factor(
    api: Client,
) -> None:
    """The MFA state shows only after the right password: a wrong one answers exactly as
    an unknown email, and as an account without a factor yet."""
    with_mfa = owner(api, "enum-mfa")
    without = unique_address("enum-plain")
    sign_up_and_verify(api, without, PASSWORD)
    answers = [
        mfa.log_in(api, email, WRONG)
        for email in (with_mfa.email, unique_address("enum-unknown"), without)
    ]
    for reply in answers:
        assert_error(reply, 401, "invalid_credentials")
        assert reply.cookies() == []
    assert shape(answers[0]) == shape(answers[1]) == shape(answers[2])
    right = mfa.log_in(api, with_mfa.email, PASSWORD)
    assert right.json()["mfa_required"] is True


@pytest.fixture(scope="module")
def roomy_api() -> Iterator[Client]:
    """MFA=required with room for many wrong passwords per email (timing rounds)."""
    env = {"MFA": "required", "MAX_FAILED_LOGINS": "100", "MAX_EMAILS_PER_HOUR": "50"}
    with running_local_api(env) as base_url:
        yield Client(base_url)


def test_a_wrong_password_takes_as_long_whatever_the_second_factor(roomy_api: Client) -> None:
    """Nor does the time tell: a wrong password for an account with MFA on, for one
    without, and for an unknown email, interleaved; medians within TIMING_FACTOR."""
    with_mfa = owner(roomy_api, "timing-mfa")
    without = unique_address("timing-plain")
    sign_up_and_verify(roomy_api, without, PASSWORD)
    medians = interleaved_medians(
        {
            "mfa on": lambda _: mfa.log_in(roomy_api, with_mfa.email, WRONG),
            "no factor": lambda _: mfa.log_in(roomy_api, without, WRONG),
            "unknown": lambda n: mfa.log_in(roomy_api, unique_address(f"timing-{n}"), WRONG),
        },
        status=401,
    )
    assert_within_factor(medians)


# -- forged and misplaced tokens ---------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _encode(part: dict[str, Any]) -> str:
    return _b64(json.dumps(part, separators=(",", ":")).encode())


def _hs256(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """Signed by hand: pyjwt (rightly) refuses a JWK as an HMAC secret."""
    signing_input = f"{_encode(header)}.{_encode(claims)}"
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _forgeries(api: Client, real: str, access_token: str, enrolment: str) -> dict[str, str]:
    header, claims = mfa.unverified_segments(real)
    head, payload, signature = real.split(".")
    foreign = ec.generate_private_key(ec.SECP256R1())
    jwks = api.send("GET", "/.well-known/jwks.json").raw.decode()
    other_claims = {**claims, "sub": str(uuid.uuid4()), "email": "mallory@example.com"}
    return {
        "alg none": f"{_encode({**header, 'alg': 'none'})}.{payload}.",
        "alg none, no signature part": f"{_encode({**header, 'alg': 'none'})}.{payload}",
        "HS256 keyed with the public key set": _hs256(
            {**header, "alg": "HS256"}, claims, jwks.encode()
        ),
        "a foreign key under the service's kid": jwt.encode(
            claims, foreign, algorithm="ES256", headers={"typ": "mfa+jwt", "kid": header["kid"]}
        ),
        "a foreign key sent along (jwk header)": jwt.encode(
            claims,
            foreign,
            algorithm="ES256",
            headers={
                "typ": "mfa+jwt",
                "kid": "attacker",
                "jwk": json.loads(ECAlgorithm.to_jwk(foreign.public_key())),
            },
        ),
        "a claim changed (signature kept)": f"{head}.{_encode(other_claims)}.{signature}",
        "typ changed to at+jwt (signature kept)": (
            f"{_encode({**header, 'typ': 'at+jwt'})}.{payload}.{signature}"
        ),
        "an access token": access_token,
        "an enrolment token (purpose enroll)": enrolment,
    }


def test_forged_and_misplaced_mfa_tokens_are_refused_and_spend_nothing(api: Client) -> None:
    victim = owner(api, "forge")
    real = mfa.mfa_token(api, victim.email, PASSWORD)
    session = Device(api, "victim")
    reply = mfa.verify(session, real, recovery_code=victim.recovery_codes[0])
    assert reply.status == 200, reply.raw
    # The attacker's own account, under MFA=required: an enrolment token of its own.
    mallory = unique_address("mallory")
    sign_up_and_verify(api, mallory, PASSWORD)
    real = mfa.mfa_token(api, victim.email, PASSWORD)
    forged = _forgeries(api, real, str(session.access_token), enrolment_token(api, mallory))
    code = victim.app.code_of(victim.app.next_step())
    for name, token in forged.items():
        refused = mfa.verify(Device(api, "attacker"), token, code=code)
        assert refused.status == 401, (name, refused.raw)
        assert_error(refused, 401, "invalid_token")
        assert refused.cookies() == [], name
    # Nothing was spent or counted: the real token and that code still log in.
    assert mfa.verify(Device(api, "victim"), real, code=victim.app.code()).status == 200


def test_an_enrolment_token_opens_the_enrolment_routes_and_nothing_else(api: Client) -> None:
    email = unique_address("enrolment-token")
    sign_up_and_verify(api, email, PASSWORD)
    token = enrolment_token(api, email)
    bearer = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    guarded = [
        ("GET", "/me", None),
        ("GET", "/auth/sessions", None),
        ("POST", "/auth/logout-all", {}),
        ("POST", "/auth/password/change", {"current_password": PASSWORD, "new_password": WRONG}),
        ("DELETE", "/me", {"password": PASSWORD}),
        ("POST", mfa.RECOVERY_CODES, {"password": PASSWORD, "code": "123456"}),
        ("DELETE", mfa.DISABLE, {"password": PASSWORD, "code": "123456"}),
    ]
    for method, path, payload in guarded:
        data = None if payload is None else json.dumps(payload).encode()
        denied = api.send(method, path, data, bearer)
        assert (denied.status, denied.json()) == (403, {"message": "Forbidden"}), (path, denied.raw)
    assert_error(
        api.call("POST", mfa.VERIFY, {"mfa_token": token, "code": "123456"}), 401, "invalid_token"
    )
    assert_error(api.call("POST", "/auth/refresh", {"refresh_token": token}), 401, "invalid_token")
    # It does enrol; then it is spent for good (MFA is on), and a verify-purpose token
    # opens no enrolment.
    enrolled = mfa.enable_mfa(Device(api, "owner", access_token=token), PASSWORD)
    assert_error(
        mfa.enroll(Device(api, "owner", access_token=token), PASSWORD), 409, "mfa_already_enabled"
    )
    verify_token = mfa.mfa_token(api, email, PASSWORD)
    denied = mfa.enroll(Device(api, "attacker", access_token=verify_token), PASSWORD)
    assert (denied.status, denied.json()) == (403, {"message": "Forbidden"}), denied.raw
    assert (
        mfa.verify(Device(api, "owner"), verify_token, code=enrolled.authenticator.code()).status
        == 200
    )


def test_the_confirming_code_and_earlier_steps_are_used(api: Client) -> None:
    """The confirm's step counts as used, and so does every step before the last one
    accepted: a code seen over the owner's shoulder earlier is worth nothing."""
    victim = owner(api, "used-steps")
    confirming = victim.app.last_step
    token = mfa.mfa_token(api, victim.email, PASSWORD)
    replay = verifier(api, token, code=victim.app.code_of(confirming))()
    assert_error(replay, 401, "invalid_credentials")
    assert verifier(api, token, code=victim.app.code())().status == 200
    earlier = victim.app.last_step - 1
    if mfa.current_step() - 1 <= earlier:  # still inside the skew window: worth trying
        assert_error(
            verifier(api, token, code=victim.app.code_of(earlier))(), 401, "invalid_credentials"
        )


# -- a stolen access token with the password ----------------------------------------------


def test_the_password_alone_neither_turns_mfa_off_nor_renews_the_codes(api: Client) -> None:
    victim = owner(api, "disable-without-code")
    token = mfa.mfa_token(api, victim.email, PASSWORD)
    used_code = victim.app.code()
    stolen = Device(api, "thief")
    assert mfa.verify(stolen, token, code=used_code).status == 200
    for method, path in (("DELETE", mfa.DISABLE), ("POST", mfa.RECOVERY_CODES)):
        assert_error(stolen.call(method, path, {"password": PASSWORD}), 400, "invalid_request")
    bogus = "abcd-efgh-ijkl-mnop-qrst"
    tries = [
        ("DELETE", mfa.DISABLE, {"code": used_code}),
        ("DELETE", mfa.DISABLE, {"code": victim.app.wrong_code()}),
        ("DELETE", mfa.DISABLE, {"recovery_code": bogus}),
        ("POST", mfa.RECOVERY_CODES, {"code": used_code}),
        ("POST", mfa.RECOVERY_CODES, {"recovery_code": bogus}),
    ]
    assert len(tries) == MAX_FAILED_LOGINS
    for method, path, factor in tries:
        refused = stolen.call(method, path, mfa.with_factor(PASSWORD, **factor))
        assert_error(refused, 401, "invalid_credentials")
    # Five guesses, then the lock-out holds even with the right code.
    right = victim.recovery_codes[0]
    assert_locked(
        stolen.call("DELETE", mfa.DISABLE, mfa.with_factor(PASSWORD, recovery_code=right))
    )
    assert_locked(mfa.log_in(api, victim.email, PASSWORD))
    # MFA is still on: the owner's recovery codes are the ones issued.
    assert victim.recovery_codes


# -- signed by the service, still refused (in process) -------------------------------------

FUNCTIONS = ("signup", "verify_email", "mailer", "login", "authorizer", "mfa", "mfa_verify")


@dataclass
class InProcess:
    stack: Stack
    key: SigningKey
    email: str
    user_id: str
    app: mfa.Authenticator
    challenge: dict[str, Any]  # a real mfa_token's claims
    other_user_id: str


@pytest.fixture(scope="module")
def in_process() -> Iterator[InProcess]:
    with stack_in_moto(FUNCTIONS) as stack:
        # What the login function signs with (its own provider, through the extension).
        key = stack.handlers["login"].signing_key()
        email = "victim@example.com"
        user = stack.sign_up_verified(email, PASSWORD)
        other = stack.sign_up_verified("other@example.com", PASSWORD)
        access = stack.log_in(email, PASSWORD)["access_token"]
        started = stack.call("mfa", "mfa_enroll.json", access, payload={"password": PASSWORD})
        app = mfa.Authenticator(body(started)["secret"])
        confirmed = stack.call("mfa", "mfa_confirm.json", access, payload={"code": app.code()})
        assert confirmed["statusCode"] == 200, confirmed
        _, challenge = mfa.unverified_segments(stack.log_in(email, PASSWORD)["mfa_token"])
        yield InProcess(stack, key, email, user["user_id"], app, challenge, other["user_id"])


def _signed(ctx: InProcess, claims: dict[str, Any], **header: Any) -> str:
    key = ctx.key
    headers = {"typ": "mfa+jwt", "kid": key.kid, **header}
    return jwt.encode(claims, key.private_key, algorithm="ES256", headers=headers)


def _verify(ctx: InProcess, token: str, code: str) -> dict[str, Any]:
    event = with_json_body("mfa_verify.json", {"mfa_token": token, "code": code})
    return ctx.stack.invoke("mfa_verify", event)


def _fresh(ctx: InProcess, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {**ctx.challenge, "iat": now, "exp": now + 300, "jti": secrets.token_urlsafe(16)}
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


SERVICE_SIGNED: dict[str, Callable[[InProcess], str]] = {
    "expired": lambda c: _signed(
        c, _fresh(c, iat=int(time.time()) - 400, exp=int(time.time()) - 100)
    ),
    "issued in the future": lambda c: _signed(
        c, _fresh(c, iat=int(time.time()) + 600, exp=int(time.time()) + 900)
    ),
    "no exp": lambda c: _signed(c, _fresh(c, exp=None)),
    "the access tokens' audience": lambda c: _signed(c, _fresh(c, aud=AUDIENCE)),
    "another issuer": lambda c: _signed(c, _fresh(c, iss="https://evil.example")),
    "typ at+jwt": lambda c: _signed(c, _fresh(c), typ="at+jwt"),
    "no typ": lambda c: _signed(c, _fresh(c), typ=None),
    "purpose enroll": lambda c: _signed(c, _fresh(c, purpose="enroll")),
    "no purpose": lambda c: _signed(c, _fresh(c, purpose=None)),
    "an old password's id": lambda c: _signed(c, _fresh(c, psid=str(uuid.uuid4()))),
    "another sessions epoch": lambda c: _signed(c, _fresh(c, epoch=c.challenge["epoch"] + 1)),
    "another account's id, this email": lambda c: _signed(c, _fresh(c, sub=c.other_user_id)),
    "another account's email, this id": lambda c: _signed(c, _fresh(c, email="other@example.com")),
    "an unknown delivery": lambda c: _signed(c, _fresh(c, rtd="pigeon")),
    "a crit header": lambda c: _signed(c, _fresh(c), crit=["exp"]),
    "an unknown kid": lambda c: _signed(c, _fresh(c), kid="not-a-key-of-ours"),
}


def test_a_token_signed_like_the_services_verifies_in_process(in_process: InProcess) -> None:
    """The control: the forgeries below differ from this token in one thing each."""
    reply = _verify(in_process, _signed(in_process, _fresh(in_process)), in_process.app.code())
    assert reply["statusCode"] == 200, reply


@pytest.mark.parametrize("name", list(SERVICE_SIGNED))
def test_a_service_signed_mfa_token_that_breaks_a_rule_is_refused(
    in_process: InProcess, name: str
) -> None:
    token = SERVICE_SIGNED[name](in_process)
    # Any code: the token is refused first (invalid_token, where a wrong code would be
    # invalid_credentials), so no time step is needed.
    reply = _verify(in_process, token, "000000")
    assert error_of(reply) == (401, "invalid_token"), (name, reply)
    assert "cookies" not in reply or not reply["cookies"], reply
