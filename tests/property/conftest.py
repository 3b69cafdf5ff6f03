"""Hypothesis settings for the property-based tests: a bounded example count in
`make test` (profile "bounded", the default), a larger one in `make fuzz`
(HYPOTHESIS_PROFILE=fuzz), and HYPOTHESIS_MAX_EXAMPLES to set it by hand.

No deadline: a handler's first call pays its import-time work, and a shared 2-core
machine makes single examples slow now and then; the suite's time is bounded by the
example counts instead. The example database stays in .hypothesis/ (gitignored).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "bounded", max_examples=40, deadline=None, suppress_health_check=SLOW_OK, print_blob=True
)
settings.register_profile(
    "fuzz", max_examples=1000, deadline=None, suppress_health_check=SLOW_OK, print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "bounded"))
if os.environ.get("HYPOTHESIS_MAX_EXAMPLES"):
    settings.register_profile(
        "by-hand",
        parent=settings.default,
        max_examples=int(os.environ["HYPOTHESIS_MAX_EXAMPLES"]),
    )
    settings.load_profile("by-hand")
