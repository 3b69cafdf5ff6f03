"""The second factor over HTTP (issue 14), for the end-to-end and attack tests and the
bench: an ``Authenticator`` (what an authenticator app shows, computed with pyotp from
the enrolment's secret, each code of a time step later than the last one used, since the
service accepts a step once), the ``otpauth://`` URI read back, and the calls: enrol and
confirm, log in to an ``mfa_token``, verify it with a code or a recovery code.

Time steps: the service accepts a code of the step before, of and after its clock's
(30 s each) and only later than the account's last accepted step. ``Authenticator.code``
therefore picks the earliest step that is both unused and still acceptable for a few
seconds, and waits only when every acceptable step is used (three uses in one step).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyotp

from tests.support.http_client import Client, Reply
from tests.support.local_mail import Device

PERIOD = 30
DIGITS = 6
SKEW_STEPS = 1
# A code of the step before the clock's is offered only with this much of its last
# acceptable step left (the request must reach the server in time).
MARGIN_SECONDS = 6.0
ENROLL = "/auth/mfa/totp/enroll"
CONFIRM = "/auth/mfa/totp/confirm"
VERIFY = "/auth/mfa/verify"
RECOVERY_CODES = "/auth/mfa/recovery-codes"
DISABLE = "/auth/mfa"
T = TypeVar("T")


def current_step(now: float | None = None) -> int:
    return int(time.time() if now is None else now) // PERIOD


@dataclass
class Authenticator:
    """An authenticator app holding one secret. ``code()`` is a code the service will
    accept now (a step later than every code handed out before); ``code_of(step)`` any
    step's, used or not (for replays)."""

    secret: str
    last_step: int = 0
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    used: list[int] = field(default_factory=list)

    def code_of(self, step: int) -> str:
        return pyotp.TOTP(self.secret, digits=DIGITS, interval=PERIOD).generate_otp(step)

    def next_step(self) -> int:
        """The earliest step after ``last_step`` the service accepts for a while yet,
        waiting until one is acceptable if all of them are used."""
        while True:
            now = self.clock()
            step = current_step(now)
            left = (step + 1) * PERIOD - now  # of the current step
            earliest = step - SKEW_STEPS if left > MARGIN_SECONDS else step
            candidate = max(self.last_step + 1, earliest)
            if candidate <= step + SKEW_STEPS:
                return candidate
            # Every acceptable step is used: the next one opens with the next step.
            self.sleep(left + 0.05)

    def code(self) -> str:
        step = self.next_step()
        self.last_step = step
        self.used.append(step)
        return self.code_of(step)

    def wrong_code(self) -> str:
        """Six digits that are no code of any step the service accepts now."""
        step = current_step(self.clock())
        taken = {self.code_of(s) for s in range(step - 2, step + 3)}
        return next(c for c in (f"{n:06d}" for n in range(1000000)) if c not in taken)


@dataclass(frozen=True)
class KeyUri:
    """An ``otpauth://totp/<label>?secret=..&issuer=..`` URI, read."""

    kind: str
    label: str
    secret: str
    issuer: str
    algorithm: str
    digits: int
    period: int


def parse_key_uri(uri: str) -> KeyUri:
    """The Key URI format as authenticator apps read it (absent parameters: their
    defaults, SHA1, 6 digits, 30 s)."""
    parts = urllib.parse.urlsplit(uri)
    assert parts.scheme == "otpauth", uri
    query = urllib.parse.parse_qs(parts.query, strict_parsing=True)
    assert all(len(values) == 1 for values in query.values()), uri
    one = {name: values[0] for name, values in query.items()}
    return KeyUri(
        kind=parts.netloc,
        label=urllib.parse.unquote(parts.path.lstrip("/")),
        secret=one["secret"],
        issuer=one.get("issuer", ""),
        algorithm=one.get("algorithm", "SHA1"),
        digits=int(one.get("digits", "6")),
        period=int(one.get("period", "30")),
    )


def secret_bits(secret: str) -> int:
    """How many bits a base32 secret carries."""
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return len(base64.b32decode(padded)) * 8


# -- the calls ---------------------------------------------------------------------------


def enroll(device: Device, password: str) -> Reply:
    return device.call("POST", ENROLL, {"password": password})


def confirm(device: Device, code: str) -> Reply:
    return device.call("POST", CONFIRM, {"code": code})


@dataclass
class Enrolled:
    """What enabling the second factor gave: the app, the recovery codes, the answers."""

    authenticator: Authenticator
    recovery_codes: list[str]
    enrollment: dict[str, Any]


def enable_mfa(device: Device, password: str) -> Enrolled:
    """Enrol and confirm with a real code (the device holds an access token); asserts
    the two 200s."""
    started = enroll(device, password)
    assert started.status == 200, (started.status, started.raw)
    enrollment = started.json()
    authenticator = Authenticator(enrollment["secret"])
    confirmed = confirm(device, authenticator.code())
    assert confirmed.status == 200, (confirmed.status, confirmed.raw)
    return Enrolled(authenticator, list(confirmed.json()["recovery_codes"]), enrollment)


def log_in(
    client: Client,
    email: str,
    password: str,
    *,
    delivery: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """``POST /auth/login`` (``delivery``: its ``refresh_token_delivery``, else none)."""
    body = {"email": email, "password": password}
    if delivery is not None:
        body["refresh_token_delivery"] = delivery
    return client.call("POST", "/auth/login", body, headers)


def mfa_token(client: Client, email: str, password: str, *, delivery: str | None = None) -> str:
    """The ``mfa_token`` of a login that answered ``mfa_required``."""
    reply = log_in(client, email, password, delivery=delivery)
    assert reply.status == 200, (reply.status, reply.raw)
    answer = reply.json()
    assert answer.get("mfa_required") is True, answer
    return str(answer["mfa_token"])


def verify_body(
    token: str,
    *,
    code: str | None = None,
    recovery_code: str | None = None,
    delivery: str | None = None,
) -> dict[str, str]:
    body = {"mfa_token": token}
    if code is not None:
        body["code"] = code
    if recovery_code is not None:
        body["recovery_code"] = recovery_code
    if delivery is not None:
        body["refresh_token_delivery"] = delivery
    return body


def verify(
    device: Device,
    token: str,
    *,
    code: str | None = None,
    recovery_code: str | None = None,
    delivery: str | None = None,
) -> Reply:
    """``POST /auth/mfa/verify`` from the device (its cookie and access token kept)."""
    body = verify_body(token, code=code, recovery_code=recovery_code, delivery=delivery)
    return device.call("POST", VERIFY, body, auth=False)


def mfa_logged_in_device(
    client: Client,
    email: str,
    password: str,
    user_agent: str,
    authenticator: Authenticator,
) -> Device:
    """A ``Device`` logged in with the password and a code (cookie delivery)."""
    device = Device(client, user_agent)
    token = mfa_token(client, email, password)
    reply = verify(device, token, code=authenticator.code())
    assert reply.status == 200, (reply.status, reply.raw)
    assert device.refresh_token, reply.cookies()
    assert device.access_token, reply.raw
    return device


def with_factor(password: str, **factor: str) -> dict[str, str]:
    """The body of recovery-codes and DELETE /auth/mfa."""
    return {"password": password, **factor}


def unverified_segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A JWT's header and claims, read without verifying it."""
    header, payload = token.split(".")[:2]
    return _segment(header), _segment(payload)


def _segment(segment: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


# -- at once -----------------------------------------------------------------------------


def concurrently(*calls: Callable[[], T], timeout: float = 60.0) -> list[T]:
    """The calls in threads, released together at a barrier; their results in order.
    Any exception is re-raised."""
    results: list[Any] = [None] * len(calls)
    done = [False] * len(calls)
    errors: list[BaseException] = []
    start = threading.Barrier(len(calls), timeout=30)

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = calls[index]()
            done[index] = True
        except BaseException as error:  # re-raised below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    if errors:
        raise errors[0]
    assert all(done), "a call did not finish"
    return list(results)
