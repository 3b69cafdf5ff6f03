"""The lock-out rule: after `max_failures` consecutive failed logins for one email (an
account or not), every login for it is refused for `lockout_seconds`, right password or
not; a success resets the count, and so does the first attempt after a lock-out ends."""

from __future__ import annotations

import math
from dataclasses import dataclass

from stateless_auth.domain.errors import TooManyAttempts

# Consecutive failures are remembered this long after the last one (or the lock-out, if longer).
FAILURE_MEMORY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class FailedLogins:
    """Consecutive failed logins for one email and when the last one happened."""

    count: int = 0
    last_failure_at: int = 0

    def locked_for(self, now: float, *, max_failures: int, lockout_seconds: int) -> float:
        """Seconds of lock-out left (0 when not locked)."""
        if self.count < max_failures:
            return 0.0
        return max(0.0, self.last_failure_at + lockout_seconds - now)


def keep_failures_for(lockout_seconds: int) -> int:
    """How long a failure count is kept after its last failure (its record's TTL)."""
    return max(lockout_seconds, FAILURE_MEMORY_SECONDS)


def refuse_if_locked(
    failures: FailedLogins, now: float, *, max_failures: int, lockout_seconds: int
) -> None:
    """TooManyAttempts, with the whole seconds left as its retry-after, while locked out."""
    locked_for = failures.locked_for(
        now, max_failures=max_failures, lockout_seconds=lockout_seconds
    )
    if locked_for > 0:
        retry_after = min(lockout_seconds, math.ceil(locked_for))
        raise TooManyAttempts("too many failed logins; try again later", retry_after)
