"""What every part of the benchmark shares: rows, timing helpers and the functions'
environment. Paths, settings, events, handler import and the extension stand-in are the
tests' own (tests/support/), so that the bench measures what the tests check."""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from tests.support.paths import ROOT
from tests.support.settings import function_environment

__all__ = [
    "ROOT",
    "Row",
    "apply_environment",
    "median",
    "ms",
    "scrubbed_environment",
    "time_per_call",
    "us",
]

# What every function sees in AWS (template Globals) and nothing from the caller's own
# AWS configuration: the benchmark must never reach a real account.
BENCH_ENVIRONMENT: Mapping[str, str] = {"POWERTOOLS_METRICS_NAMESPACE": "StatelessAuthBench"}


def scrubbed_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without AWS_*, PYTHON* and POWERTOOLS_* settings, plus the functions'
    environment (tests/support/settings.py) and extra."""
    return function_environment({**BENCH_ENVIRONMENT, **(extra or {})})


def apply_environment(extra: Mapping[str, str] | None = None) -> None:
    """Make this process's environment the functions' environment."""
    wanted = scrubbed_environment(extra)
    for key in [k for k in os.environ if k not in wanted]:
        del os.environ[key]
    os.environ.update(wanted)


@dataclass
class Row:
    """One line of the table: a figure, its value and, for budgeted figures, the verdict."""

    section: str
    figure: str
    value: float | None
    shown: str
    budget: str = ""
    passed: bool | None = None  # None: informational
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def time_per_call(call: Callable[[Any], object], items: list[Any]) -> float:
    """Seconds per call of call(item) over items, with the garbage collector paused."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        for item in items:
            call(item)
        elapsed = time.perf_counter() - started
    finally:
        if enabled:
            gc.enable()
    return elapsed / len(items)


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"
