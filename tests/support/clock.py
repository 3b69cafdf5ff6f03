"""A clock the test moves by hand: ``clock.now += 60``; pass it where code takes ``clock``."""

from __future__ import annotations

import time


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    @classmethod
    def wall(cls, *, whole_seconds: bool = False) -> Clock:
        """A clock that starts at the real time (in whole seconds if asked)."""
        now = time.time()
        return cls(float(int(now)) if whole_seconds else now)
