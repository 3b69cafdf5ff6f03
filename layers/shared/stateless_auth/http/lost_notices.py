"""The log line and metric of a notice that could not be queued after its change
committed (password changed or reset, account deleted, second-factor changes): the
change stands, only the mail is lost, and the EmailFailed alarm counts it."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit


def record_lost_notice(
    logger: Logger,
    metrics: Metrics,
    queued: bool,
    user_id: str,
    *,
    message: str = "notice not queued",
) -> None:
    """Nothing if the notice was queued; otherwise log `message` and count EmailFailed."""
    if not queued:
        logger.error(message, extra={"user_id": user_id})
        metrics.add_metric(name="EmailFailed", unit=MetricUnit.Count, value=1)
