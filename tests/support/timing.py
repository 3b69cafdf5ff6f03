"""Timing comparisons for enumeration tests: calls interleaved round by round (the order
rotated, a warm-up round first), their medians compared as a ratio, so that a noisy
machine slows every contender alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from tests.support.http_client import Reply

# A difference that a second round trip (or an argon2 hash) only for one kind of email
# would make, and what a noisy 2-core machine keeps.
TIMING_FACTOR = 2.0
TIMING_ROUNDS = 10


def interleaved_medians(
    calls: dict[str, Callable[[int], Reply]],
    rounds: int = TIMING_ROUNDS,
    *,
    status: int = 202,
) -> dict[str, float]:
    """Each call once per round (given the round's number), the order rotated every
    round; the median time of each. A warm-up round first (not counted). Every reply
    must have `status`."""
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(-1, rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            reply = calls[name](round_number + 1)
            elapsed = time.perf_counter() - started
            assert reply.status == status, (name, reply.raw)
            if round_number >= 0:
                times[name].append(elapsed)
    return {name: statistics.median(spent) for name, spent in times.items()}


def assert_within_factor(medians: dict[str, float], factor: float = TIMING_FACTOR) -> None:
    ratio = max(medians.values()) / min(medians.values())
    assert ratio < factor, medians
