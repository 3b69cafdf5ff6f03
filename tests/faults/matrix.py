"""The fault matrix's two checks, for any list of scenarios (tests/faults/test_call_sites.py
runs the account and session routes', test_mfa_call_sites.py the second factor's, each
module over its own moto stack so that neither's tables slow the other's scans).

``FAULTS_REPORT=<file>`` appends one JSON line per check, from which
``python -m tests.faults.report <file>`` prints docs/reliability.md's table.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import pytest

from tests.faults.harness import FAULTS, Call, Fault, FaultStack
from tests.faults.scenarios import Scenario


def checks(scenarios: Sequence[Scenario]) -> list[Any]:
    """Every (scenario, call index, fault) that applies, as pytest params."""
    return [
        pytest.param(scenario, index, fault, id=f"{scenario.name}-{index}:{call}-{fault.name}")
        for scenario in scenarios
        for index, call in enumerate(scenario.calls)
        for fault in FAULTS
        if fault.applies_to(Call.named(call))
    ]


def clean_run_makes_the_calls_listed(faults: FaultStack, scenario: Scenario) -> None:
    ctx = scenario.prepare(faults.stack)
    with faults.injector.record() as calls:
        scenario.clean_run(faults.stack, ctx)
    assert tuple(str(call) for call in calls) == scenario.calls


def failing_call_answers_as_documented(
    faults: FaultStack, scenario: Scenario, index: int, fault: Fault
) -> None:
    """The call fails: 503 (or, after the change committed, the documented answer), the
    invariants hold, and the request retried with nothing failing succeeds, once."""
    call = Call.named(scenario.calls[index])
    ctx = scenario.prepare(faults.stack)
    with faults.injector.failing(index, fault):
        reply = scenario.request(faults.stack, ctx)
    fired = faults.injector.fired
    assert fired is not None, (index, call, reply)
    assert str(fired) == str(call), (index, call, fired, reply)
    held = scenario.check(faults.stack, ctx, reply, call)
    answer = reply.get("statusCode", "record failed")
    if "statusCode" in reply:
        assert answer == scenario.documented(index), reply
    scenario.retry(faults.stack, ctx, call)
    _report(scenario, index, call, fault, answer, held)


def _report(
    scenario: Scenario, index: int, call: Call, fault: Fault, answer: object, held: str
) -> None:
    path = os.environ.get("FAULTS_REPORT")
    if not path:
        return
    line = {
        "route": scenario.name,
        "index": index,
        "call": str(call),
        "fault": fault.name,
        "answer": answer,
        "invariant": held,
    }
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
