"""A bounded load test of the local API (``make load``): many simulated users for a fixed
time, then the invariants checked on the tables.

``python -m bench.load [--seconds 30] [--users 50]`` (or LOAD_SECONDS / LOAD_USERS).

The local API (localapi.server.LocalApi) runs in this process, on loopback, with its
embedded moto; the users are threads with http.client (tests/support/http_client.py),
each its own device (cookie jar, access token). Each user, until the time is up: signs
up a new account and verifies it from the mailbox (read in-process), then logs in and
does a random mix of ``POST /auth/refresh``, ``GET /me``, a racing pair of refreshes
with the same cookie, and ``POST /auth/logout`` (then logs in again), and now and then
signs up another account. MAX_EMAILS_PER_HOUR and MAX_FAILED_LOGINS are raised to their
maxima so that our own limits do not throttle the mix.

Afterwards, from the tables (read with boto3 in this process, strongly consistent):

- no answer was a 5xx;
- no session has two current refresh tokens (and a live one has exactly one, the one
  its SESSION# item names);
- every refresh answered 200 matched exactly one rotation: per session, the TOKEN#
  items are 1 + the refreshes that succeeded, and the used ones are those refreshes;
- every login answered 200 opened exactly one session;
- of a racing pair with the same cookie, at most one refresh succeeded;
- every user created (signup 202, then verified) has its account and can log in
  (one more login each after the run).

This is the local API, not Lambda: threads in one Python process in front of moto. The
figures say nothing of Lambda's latency or throughput; what the run proves is that no
update is lost and nothing crashes under concurrency.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT
from tests.support.http_client import Client, Reply
from tests.support.local_mail import Device, claims_of

DEFAULT_SECONDS = 30.0
DEFAULT_USERS = 50
PASSWORD = "load-test correct horse battery"
# Our own limits, raised to the template's maxima (MaxValue) for the mix.
LIMITS = {"MAX_EMAILS_PER_HOUR": "100", "MAX_FAILED_LOGINS": "100"}
# What a simulated user does after a login, with its weight.
ACTIONS = {"refresh": 40, "me": 35, "refresh_race": 5, "logout": 12, "signup": 8}
MAIL_TIMEOUT_SECONDS = 30.0
ROUTES = ("signup", "verify-email", "login", "refresh", "refresh (race)", "me", "logout")


@dataclass
class Record:
    """What the clients saw: every answer's route, status and time, the sessions opened
    and rotated, the accounts created."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: list[tuple[str, int, float]] = field(default_factory=list)
    logins: Counter[str] = field(default_factory=Counter)  # sid -> logins answered 200
    refreshes: Counter[str] = field(default_factory=Counter)  # sid -> refreshes answered 200
    races: list[int] = field(default_factory=list)  # 200s per racing pair
    accounts: list[str] = field(default_factory=list)  # emails created and verified
    # Signed up when the time ran out before their mail came: verified after the run.
    unverified: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # client-side failures (not answers)

    def call(self, route: str, send: Callable[[], Reply]) -> Reply:
        started = time.perf_counter()
        reply = send()
        elapsed = time.perf_counter() - started
        with self.lock:
            self.calls.append((route, reply.status, elapsed))
        return reply


@dataclass
class Tables:
    """The items of the two tables after the run (DynamoDB's attribute-value form)."""

    users: list[dict[str, Any]]
    sessions: list[dict[str, Any]]


@dataclass
class Invariant:
    name: str
    violations: int
    checked: int
    detail: str = ""

    @property
    def holds(self) -> bool:
        return self.violations == 0


def _s(item: Mapping[str, Any], name: str) -> str:
    return str(item.get(name, {}).get("S", ""))


def check_invariants(
    record: Record, tables: Tables, *, logged_in_after: Mapping[str, int] | None = None
) -> list[Invariant]:
    """The invariants of the module's docstring, on what the clients saw and the tables
    hold; ``logged_in_after``: each created account's status for one login after the run."""
    server_errors = [c for c in record.calls if c[1] >= 500]
    sessions: dict[str, dict[str, Any]] = {}
    tokens: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in tables.sessions:
        pk = _s(item, "pk")
        if pk.startswith("SESSION#"):
            sessions[pk.removeprefix("SESSION#")] = item
        elif pk.startswith("TOKEN#"):
            tokens[_s(item, "session_id")].append(item)
    two_current, wrong_current, mismatched, login_mismatch = [], [], [], []
    for sid in sorted(set(sessions) | set(tokens)):
        session = sessions.get(sid)
        current = [t for t in tokens[sid] if _s(t, "state") == "current"]
        used = [t for t in tokens[sid] if _s(t, "state") == "used"]
        if len(current) > 1:
            two_current.append(sid)
        if session is None or "revoked_at" not in session:
            names = {_s(t, "pk").removeprefix("TOKEN#") for t in current}
            if session is None or names != {_s(session, "current_token_hash")}:
                wrong_current.append(sid)
        seen = record.refreshes.get(sid, 0)
        if len(tokens[sid]) != 1 + seen or len(used) != seen:
            mismatched.append(f"{sid}: {len(tokens[sid])} tokens, {seen} refreshes")
    for sid in sorted(set(record.logins) | set(sessions)):
        if record.logins.get(sid, 0) != (1 if sid in sessions else 0):
            login_mismatch.append(sid)
    # Refreshes answered 200 for a session the tables do not have are mismatches too.
    mismatched += [sid for sid in record.refreshes if sid not in sessions and sid not in tokens]
    accounts = {_s(item, "pk").removeprefix("EMAIL#"): item for item in tables.users}
    missing = [email for email in record.accounts if email not in accounts]
    unverified = [
        email
        for email in record.accounts
        if email in accounts and not accounts[email].get("email_verified", {}).get("BOOL")
    ]
    refused = [email for email in record.accounts if (logged_in_after or {}).get(email, 200) != 200]
    over_won = [count for count in record.races if count > 1]
    return [
        Invariant(
            "no 5xx answer",
            len(server_errors),
            len(record.calls),
            ", ".join(sorted({f"{r} {s}" for r, s, _ in server_errors})),
        ),
        Invariant("no session with two current tokens", len(two_current), len(sessions)),
        Invariant(
            "a live session's one current token is the one it names",
            len(wrong_current),
            len(sessions),
            ", ".join(wrong_current[:5]),
        ),
        Invariant(
            "every refresh answered 200 matched exactly one rotation",
            len(mismatched),
            sum(record.refreshes.values()),
            "; ".join(mismatched[:5]),
        ),
        Invariant(
            "every login answered 200 opened exactly one session",
            len(login_mismatch),
            sum(record.logins.values()),
            ", ".join(login_mismatch[:5]),
        ),
        Invariant(
            "at most one refresh of a racing pair succeeded", len(over_won), len(record.races)
        ),
        Invariant(
            "every user created has its verified account",
            len(missing) + len(unverified),
            len(record.accounts),
            ", ".join((missing + unverified)[:5]),
        ),
        Invariant(
            "every user created can log in after the run",
            len(refused),
            len(record.accounts),
            ", ".join(refused[:5]),
        ),
    ]


class TimeUp(Exception):
    """The run's time is up while a user waits for its mail."""


class User:
    """One simulated user: its own device, its own accounts, its own random stream."""

    def __init__(
        self,
        index: int,
        client: Client,
        record: Record,
        mail_token: Callable[[str, float], str | None],
        deadline: float,
        seed: int,
    ) -> None:
        self.index = index
        self.client = client
        self.record = record
        self.mail_token = mail_token
        self.deadline = deadline
        self.random = random.Random(seed)
        self.device = Device(client, f"load-test/{index}")
        self.email = ""
        self.accounts = 0

    def run(self) -> None:
        try:
            self.sign_up()
            self.log_in()
            while time.monotonic() < self.deadline:
                action = self.random.choices(list(ACTIONS), weights=list(ACTIONS.values()))[0]
                getattr(self, action)()
        except TimeUp:
            pass
        except Exception as exc:  # a client-side failure: reported, never hidden
            with self.record.lock:
                self.record.errors.append(f"user {self.index}: {type(exc).__name__}: {exc}")

    def sign_up(self) -> None:
        self.accounts += 1
        email = f"load-{self.index}-{self.accounts}-{secrets.token_hex(3)}@example.com"
        body = {"email": email, "password": PASSWORD}
        reply = self.record.call("signup", lambda: self.client.call("POST", "/auth/signup", body))
        if reply.status != 202:
            raise AssertionError(f"signup answered {reply.status}: {reply.raw[:200]!r}")
        token = self.mail_token(email, self.deadline)
        if token is None:  # the mailer is behind and the time is up: verified after the run
            with self.record.lock:
                self.record.unverified.append(email)
            raise TimeUp
        reply = self.record.call(
            "verify-email",
            lambda: self.client.call("POST", "/auth/verify-email", {"token": token}),
        )
        if reply.status != 200:
            raise AssertionError(f"verify-email answered {reply.status}: {reply.raw[:200]!r}")
        with self.record.lock:
            self.record.accounts.append(email)
        self.email = email
        self.device = Device(self.client, f"load-test/{self.index}")

    def signup(self) -> None:
        self.logout()
        self.sign_up()
        self.log_in()

    def log_in(self) -> None:
        reply = self.record.call("login", lambda: self.device.log_in(self.email, PASSWORD))
        if reply.status != 200:
            raise AssertionError(f"login answered {reply.status}: {reply.raw[:200]!r}")
        with self.record.lock:
            self.record.logins[str(self.device.claims()["sid"])] += 1

    def refresh(self) -> None:
        if self.device.refresh_token is None:
            self.log_in()
            return
        reply = self.record.call("refresh", self.device.refresh)
        if reply.status == 200:
            with self.record.lock:
                self.record.refreshes[str(self.device.claims()["sid"])] += 1
        else:  # the session ended (a lost race revoked it): start again
            self.device.refresh_token = None

    def refresh_race(self) -> None:
        """Two refreshes with the same cookie at once: at most one may rotate it."""
        token = self.device.refresh_token
        if token is None:
            self.log_in()
            return
        replies: list[Reply] = []
        barrier = threading.Barrier(2)

        def one() -> None:
            barrier.wait()
            replies.append(
                self.record.call("refresh (race)", lambda: self.device.refresh_with(token))
            )

        racers = [threading.Thread(target=one) for _ in range(2)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        won = [reply for reply in replies if reply.status == 200]
        with self.record.lock:
            self.record.races.append(len(won))
            for reply in won:
                access = reply.json()["access_token"]
                self.record.refreshes[str(claims_of(access)["sid"])] += 1
        if won:  # keep the winner's cookie (the session may be revoked since: reuse)
            self.device.refresh_token = won[0].refresh_cookie()
            self.device.access_token = won[0].json()["access_token"]
        else:
            self.device.refresh_token = None

    def me(self) -> None:
        if self.device.access_token is None:
            self.log_in()
            return
        self.record.call("me", lambda: self.device.call("GET", "/me"))

    def logout(self) -> None:
        if self.device.refresh_token is None:
            return
        self.record.call("logout", lambda: self.device.call("POST", "/auth/logout", auth=False))
        self.device.refresh_token = None
        self.device.access_token = None


def _scan(client: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def percentile(values: Iterable[float], fraction: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]


@dataclass
class Result:
    seconds: float
    users: int
    record: Record
    invariants: list[Invariant]
    log_path: str

    @property
    def ok(self) -> bool:
        return not self.record.errors and all(i.holds for i in self.invariants)

    def routes(self) -> list[dict[str, Any]]:
        by_route: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for route, status, elapsed in self.record.calls:
            by_route[route].append((status, elapsed))
        rows = []
        for route in ROUTES:
            calls = by_route.get(route, [])
            statuses = Counter(status for status, _ in calls)
            rows.append(
                {
                    "route": route,
                    "requests": len(calls),
                    "per_second": len(calls) / self.seconds,
                    "p50_ms": percentile((e for _, e in calls), 0.5) * 1e3,
                    "p99_ms": percentile((e for _, e in calls), 0.99) * 1e3,
                    "statuses": dict(sorted(statuses.items())),
                }
            )
        return rows

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 2),
            "users": self.users,
            "requests": len(self.record.calls),
            "requests_per_second": round(len(self.record.calls) / self.seconds, 1),
            "accounts_created": len(self.record.accounts),
            "accounts_verified_after_the_run": len(self.record.unverified),
            "sessions_opened": sum(self.record.logins.values()),
            "refreshes_succeeded": sum(self.record.refreshes.values()),
            "racing_pairs": len(self.record.races),
            "routes": self.routes(),
            "invariants": [
                {"name": i.name, "violations": i.violations, "checked": i.checked}
                for i in self.invariants
            ],
            "client_errors": self.record.errors,
        }

    def text(self) -> str:
        out = [
            "Load test of the LOCAL API (localapi in one Python process, moto behind it),"
            " not Lambda: the figures are this machine's, and what they prove is no lost"
            " update and no crash under concurrency.",
            f"{self.users} users for {self.seconds:.1f} s: {len(self.record.calls)} requests,"
            f" {len(self.record.calls) / self.seconds:.1f} requests/s;"
            f" {len(self.record.accounts)} accounts created"
            f" ({len(self.record.unverified)} verified after the run: mail still queued),"
            f" {sum(self.record.logins.values())} sessions opened,"
            f" {sum(self.record.refreshes.values())} refreshes succeeded,"
            f" {len(self.record.races)} racing pairs",
            "",
            f"{'route':<16} {'requests':>8} {'req/s':>7} {'p50':>9} {'p99':>9}  statuses",
        ]
        for row in self.routes():
            statuses = ", ".join(f"{k}: {v}" for k, v in row["statuses"].items())
            out.append(
                f"{row['route']:<16} {row['requests']:>8} {row['per_second']:>7.1f}"
                f" {row['p50_ms']:>6.1f} ms {row['p99_ms']:>6.1f} ms  {statuses}"
            )
        out.append("")
        for invariant in self.invariants:
            verdict = "holds" if invariant.holds else "VIOLATED"
            line = (
                f"{verdict:<8} {invariant.name}: {invariant.violations} violations"
                f" of {invariant.checked}"
            )
            out.append(line + (f" ({invariant.detail})" if invariant.detail else ""))
        for error in self.record.errors[:10]:
            out.append(f"client error: {error}")
        return "\n".join(out)


@contextlib.contextmanager
def _quiet(path: Path) -> Iterator[None]:
    """The access log, the functions' logs and metrics into ``path``, not the console."""
    with (
        path.open("w", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        yield


def run(
    *,
    seconds: float,
    users: int,
    seed: int = 13,
    log_dir: str | None = None,
    template: Path = ROOT / "template.yaml",
) -> Result:
    """Start the local API in this process, run the users for ``seconds``, check."""
    from localapi.server import LocalApi

    log_path = Path(tempfile.mkdtemp(prefix="load-", dir=log_dir)) / "localapi.log"
    environ = {**os.environ, **LIMITS, "POWERTOOLS_LOG_LEVEL": "WARNING"}
    record = Record()
    with _quiet(log_path):
        api = LocalApi(
            template,
            port=0,
            process_environ=environ,
            log=sys.stderr,
            min_message_age=0.0,
        ).start()
        try:
            client = Client(api.url)
            from localapi.server import email_normaliser

            normalise = email_normaliser()

            def mail_token(email: str, until: float) -> str | None:
                """The link's token once the mail is there; None after ``until``."""
                while True:
                    found = api.mailbox.messages(email, normalise=normalise)
                    if found:
                        return str(found[-1]["tokens"][0])
                    if time.monotonic() > until:
                        return None
                    time.sleep(0.05)

            started = time.monotonic()
            deadline = started + seconds
            threads = [
                threading.Thread(
                    target=User(i, client, record, mail_token, deadline, seed + i).run,
                    name=f"load-user-{i}",
                )
                for i in range(users)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            api.wait_for_mail_jobs(MAIL_TIMEOUT_SECONDS)
            # The accounts whose mail came late: verified now, so that they count too.
            for email in record.unverified:
                token = mail_token(email, time.monotonic() + MAIL_TIMEOUT_SECONDS)
                if token is None:
                    record.errors.append(f"no mail to {email} {MAIL_TIMEOUT_SECONDS:g} s after")
                    continue
                reply = client.call("POST", "/auth/verify-email", {"token": token})
                if reply.status == 200:
                    record.accounts.append(email)
                else:
                    record.errors.append(f"late verify-email of {email}: {reply.status}")
            after = _log_in_after(client, record.accounts)
            import boto3

            dynamodb = boto3.client("dynamodb", region_name=api.region)
            tables = Tables(
                users=_scan(dynamodb, api.physical_names["UsersTable"]),
                sessions=_scan(dynamodb, api.physical_names["SessionsTable"]),
            )
        finally:
            api.close()
    # The logins after the run opened sessions too: the clients saw them answered 200.
    for status, sid in after.values():
        if status == 200 and sid:
            record.logins[sid] += 1
    invariants = check_invariants(
        record, tables, logged_in_after={email: status for email, (status, _) in after.items()}
    )
    return Result(elapsed, users, record, invariants, str(log_path))


def _log_in_after(client: Client, emails: list[str]) -> dict[str, tuple[int, str]]:
    """One login per account after the run, a few at a time: (status, sid)."""
    results: dict[str, tuple[int, str]] = {}
    pending = list(emails)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not pending:
                    return
                email = pending.pop()
            device = Device(client, "load-test/after")
            reply = device.log_in(email, PASSWORD)
            sid = str(device.claims()["sid"]) if reply.status == 200 else ""
            with lock:
                results[email] = (reply.status, sid)

    workers = [threading.Thread(target=worker) for _ in range(8)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument(
        "--seconds", type=float, default=float(os.environ.get("LOAD_SECONDS", DEFAULT_SECONDS))
    )
    parser.add_argument(
        "--users", type=int, default=int(os.environ.get("LOAD_USERS", DEFAULT_USERS))
    )
    parser.add_argument("--json", type=Path, help="also write the figures there")
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    arguments = parser.parse_args(argv)
    print(f"load test: {arguments.users} users for {arguments.seconds:g} s ...", flush=True)
    result = run(seconds=arguments.seconds, users=arguments.users, template=arguments.template)
    print(result.text())
    print(f"(the local API's log: {result.log_path})")
    if arguments.json:
        arguments.json.write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
