"""The log line and metrics of a refused password, wherever one is checked (login,
password change, account deletion): one line and the same metrics each time, which the
LoginFailed and LockoutStarted alarms count (docs/operations.md)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from stateless_auth.domain.errors import LoginFailed, TooManyAttempts


def record_refusal(
    logger: Logger,
    metrics: Metrics,
    error: LoginFailed | TooManyAttempts,
    *,
    failed: str,
    locked_out: str,
) -> None:
    """Log `failed` for a wrong password (with whether it started a lock-out) or
    `locked_out` for a refusal while locked out, and count their metrics."""
    if isinstance(error, LoginFailed):
        logger.warning(failed, extra={"lockout_started": error.locked})
        metrics.add_metric(name="LoginFailed", unit=MetricUnit.Count, value=1)
        if error.locked:
            metrics.add_metric(name="LockoutStarted", unit=MetricUnit.Count, value=1)
    else:
        logger.warning(locked_out, extra={"retry_after": error.retry_after})
        metrics.add_metric(name="LoginLockedOut", unit=MetricUnit.Count, value=1)
