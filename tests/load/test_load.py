"""The load test (bench/load.py): its invariant checker on hand-made tables (each
invariant catches what it names), and a short run against the local API (``make load``
runs the long one)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from bench.load import Record, Tables, check_invariants, percentile, run

SHORT_SECONDS = float(os.environ.get("LOAD_TEST_SECONDS", "5"))
SHORT_USERS = int(os.environ.get("LOAD_TEST_USERS", "10"))


def session(sid: str, current: str, *, revoked: bool = False) -> dict[str, Any]:
    item = {"pk": {"S": f"SESSION#{sid}"}, "current_token_hash": {"S": current}}
    if revoked:
        item["revoked_at"] = {"N": "1"}
    return item


def token(name: str, sid: str, state: str) -> dict[str, Any]:
    return {"pk": {"S": f"TOKEN#{name}"}, "session_id": {"S": sid}, "state": {"S": state}}


def account(email: str, *, verified: bool = True) -> dict[str, Any]:
    return {"pk": {"S": f"EMAIL#{email}"}, "email_verified": {"BOOL": verified}}


def consistent() -> tuple[Record, Tables]:
    """One account, one session rotated twice, one logged-out session never rotated."""
    record = Record()
    record.calls = [("login", 200, 0.1), ("refresh", 200, 0.1), ("logout", 204, 0.1)]
    record.logins.update({"s1": 1, "s2": 1})
    record.refreshes.update({"s1": 2})
    record.races = [1, 0]
    record.accounts = ["a@example.com"]
    tables = Tables(
        users=[account("a@example.com")],
        sessions=[
            session("s1", "t3"),
            token("t1", "s1", "used"),
            token("t2", "s1", "used"),
            token("t3", "s1", "current"),
            session("s2", "u1", revoked=True),
            token("u1", "s2", "current"),
        ],
    )
    return record, tables


def violated(record: Record, tables: Tables, **kwargs: Any) -> dict[str, int]:
    return {i.name: i.violations for i in check_invariants(record, tables, **kwargs) if not i.holds}


def test_consistent_tables_hold_every_invariant() -> None:
    record, tables = consistent()
    invariants = check_invariants(record, tables, logged_in_after={"a@example.com": 200})
    assert [i.name for i in invariants if not i.holds] == []
    assert len(invariants) == 8


def test_a_5xx_answer_is_a_violation() -> None:
    record, tables = consistent()
    record.calls.append(("refresh", 503, 0.1))
    assert violated(record, tables) == {"no 5xx answer": 1}


def test_two_current_tokens_in_a_session_are_caught() -> None:
    record, tables = consistent()
    tables.sessions[1] = token("t1", "s1", "current")  # a rotation whose retire was lost
    found = violated(record, tables)
    assert found["no session with two current tokens"] == 1
    assert found["a live session's one current token is the one it names"] == 1
    assert found["every refresh answered 200 matched exactly one rotation"] == 1


def test_a_live_session_naming_another_token_is_caught() -> None:
    record, tables = consistent()
    tables.sessions[0] = session("s1", "t2")
    assert violated(record, tables) == {"a live session's one current token is the one it names": 1}


def test_a_refresh_answered_without_its_rotation_is_caught() -> None:
    record, tables = consistent()
    record.refreshes["s1"] += 1  # the client got a 200, the tables have no third token
    assert violated(record, tables) == {
        "every refresh answered 200 matched exactly one rotation": 1
    }


def test_a_rotation_no_client_saw_is_caught() -> None:
    record, tables = consistent()
    record.refreshes["s1"] -= 1
    assert violated(record, tables) == {
        "every refresh answered 200 matched exactly one rotation": 1
    }


def test_a_refresh_of_an_unknown_session_is_caught() -> None:
    record, tables = consistent()
    record.refreshes["ghost"] = 1
    assert violated(record, tables) == {
        "every refresh answered 200 matched exactly one rotation": 1
    }


def test_a_login_without_its_session_is_caught() -> None:
    record, tables = consistent()
    record.logins["s3"] = 1
    assert violated(record, tables) == {"every login answered 200 opened exactly one session": 1}


def test_both_refreshes_of_a_racing_pair_winning_is_caught() -> None:
    record, tables = consistent()
    record.races.append(2)
    assert violated(record, tables) == {"at most one refresh of a racing pair succeeded": 1}


def test_a_lost_or_unverified_account_is_caught() -> None:
    record, tables = consistent()
    record.accounts += ["b@example.com", "c@example.com"]
    tables.users.append(account("c@example.com", verified=False))
    assert violated(record, tables) == {"every user created has its verified account": 2}


def test_an_account_refusing_its_login_after_the_run_is_caught() -> None:
    record, tables = consistent()
    found = violated(record, tables, logged_in_after={"a@example.com": 401})
    assert found == {"every user created can log in after the run": 1}


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0
    assert percentile([], 0.5) == 0.0


@pytest.mark.e2e
def test_a_short_load_run_holds_every_invariant(tmp_path: Any) -> None:
    result = run(seconds=SHORT_SECONDS, users=SHORT_USERS, log_dir=str(tmp_path))
    assert result.record.errors == [], result.record.errors
    assert [i for i in result.invariants if not i.holds] == [], result.text()
    routes = {row["route"]: row["requests"] for row in result.routes()}
    # Every route of the mix was exercised, and the run stopped by itself.
    assert all(routes[name] > 0 for name in ("signup", "verify-email", "login", "refresh", "me"))
    assert result.seconds < SHORT_SECONDS + 10
