"""Every AWS call site of every route, failed in turn with every fault that applies.

A clean run of each route (tests/faults/scenarios.py) records the calls it makes, which
must be the ones the scenario lists; then, for each of those calls and each fault
(tests/faults/harness.py FAULTS) that applies to it, a fresh run has that call fail. The
answer must be 503 `temporarily_unavailable` with Retry-After (or, for a call after the
change committed, the documented answer), never a 500 or a success that did not happen;
the tables must then hold the invariants, and the request retried with nothing failing
must succeed, once.

``FAULTS_REPORT=<file>`` appends one JSON line per check, from which
``python -m tests.faults.report <file>`` prints docs/reliability.md's table.
"""

from __future__ import annotations

import json
import os

import pytest

from tests.faults.harness import FAULTS, Call, Fault, FaultStack
from tests.faults.scenarios import SCENARIOS, Scenario

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

CHECKS = [
    pytest.param(scenario, index, fault, id=f"{scenario.name}-{index}:{call}-{fault.name}")
    for scenario in SCENARIOS
    for index, call in enumerate(scenario.calls)
    for fault in FAULTS
    if fault.applies_to(Call.named(call))
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.name for scenario in SCENARIOS])
def test_a_clean_run_makes_the_calls_listed(faults: FaultStack, scenario: Scenario) -> None:
    ctx = scenario.prepare(faults.stack)
    with faults.injector.record() as calls:
        scenario.clean_run(faults.stack, ctx)
    assert tuple(str(call) for call in calls) == scenario.calls


@pytest.mark.parametrize(("scenario", "index", "fault"), CHECKS)
def test_a_failing_call_answers_503_and_changes_nothing_half_way(
    faults: FaultStack, scenario: Scenario, index: int, fault: Fault
) -> None:
    call = Call.named(scenario.calls[index])
    ctx = scenario.prepare(faults.stack)
    with faults.injector.failing(index, fault):
        reply = scenario.request(faults.stack, ctx)
    fired = faults.injector.fired
    assert fired is not None, (index, call, reply)
    assert str(fired) == str(call), (index, call, fired, reply)
    held = scenario.check(faults.stack, ctx, reply, call)
    answer = reply.get("statusCode", "record failed")
    documented = scenario.after_commit.get(str(call), 503)
    if "statusCode" in reply:
        assert answer == documented, reply
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
