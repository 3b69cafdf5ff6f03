"""Every AWS call site of every route, failed in turn with every fault that applies.

A clean run of each route (tests/faults/scenarios.py) records the calls it makes, which
must be the ones the scenario lists; then, for each of those calls and each fault
(tests/faults/harness.py FAULTS) that applies to it, a fresh run has that call fail. The
answer must be 503 `temporarily_unavailable` with Retry-After (or, for a call after the
change committed, the documented answer), never a 500 or a success that did not happen;
the tables must then hold the invariants, and the request retried with nothing failing
must succeed, once (tests/faults/matrix.py). The second factor's routes are
tests/faults/test_mfa_call_sites.py.

``FAULTS_REPORT=<file>`` appends one JSON line per check, from which
``python -m tests.faults.report <file>`` prints docs/reliability.md's table.
"""

from __future__ import annotations

import pytest

from tests.faults import matrix
from tests.faults.harness import Fault, FaultStack
from tests.faults.scenarios import SCENARIOS, Scenario

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.name for scenario in SCENARIOS])
def test_a_clean_run_makes_the_calls_listed(faults: FaultStack, scenario: Scenario) -> None:
    matrix.clean_run_makes_the_calls_listed(faults, scenario)


@pytest.mark.parametrize(("scenario", "index", "fault"), matrix.checks(SCENARIOS))
def test_a_failing_call_answers_503_and_changes_nothing_half_way(
    faults: FaultStack, scenario: Scenario, index: int, fault: Fault
) -> None:
    matrix.failing_call_answers_as_documented(faults, scenario, index, fault)
