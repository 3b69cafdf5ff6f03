"""The fault matrix over the second factor's routes (tests/faults/mfa_scenarios.py):
MfaFunction's enrol, confirm, recovery-codes and DELETE /auth/mfa, MfaVerifyFunction
with a code, a recovery code and a wrong one, and the login of an account with MFA on;
every call site failed with every fault that applies, as tests/faults/test_call_sites.py
does for the other routes (the same checks, tests/faults/matrix.py), on a moto stack of
its own (the conftest's module-scoped ``faults``).
"""

from __future__ import annotations

import pytest

from tests.faults import matrix
from tests.faults.harness import Fault, FaultStack
from tests.faults.mfa_scenarios import MFA_SCENARIOS
from tests.faults.scenarios import Scenario

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@pytest.mark.parametrize(
    "scenario", MFA_SCENARIOS, ids=[scenario.name for scenario in MFA_SCENARIOS]
)
def test_a_clean_run_makes_the_calls_listed(faults: FaultStack, scenario: Scenario) -> None:
    matrix.clean_run_makes_the_calls_listed(faults, scenario)


@pytest.mark.parametrize(("scenario", "index", "fault"), matrix.checks(MFA_SCENARIOS))
def test_a_failing_call_answers_as_documented_and_spends_no_factor(
    faults: FaultStack, scenario: Scenario, index: int, fault: Fault
) -> None:
    matrix.failing_call_answers_as_documented(faults, scenario, index, fault)
