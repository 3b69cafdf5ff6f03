"""The one place an AWS call's failure is sorted into ours and the dependency's.

A repository wraps its client in `guarded`: every call through it that fails because
the service could not do it — throttled, a 5xx, a timeout or a lost connection, a
transaction cancelled for any reason but our own conditions — raises
DependencyUnavailable (503 `temporarily_unavailable` with Retry-After at the edge), and
nothing else is touched. What stays a ClientError is the service's answer to our
request: a condition that failed (`ConditionalCheckFailedException`, a transaction
cancelled only by `ConditionalCheckFailed`), which the repositories read, and a request
the service refuses as malformed (a bug: a 500).

botocore has already retried a throttled, failed or timed-out call by then (standard
mode, aws_clients.client_config), so what reaches here has outlasted its retries.
"""

from __future__ import annotations

import functools
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from stateless_auth.domain.errors import DependencyUnavailable

# Error codes of a throttled call (DynamoDB, SQS, SES v2 and Secrets Manager spell them
# differently); any 5xx is a fault whatever its code.
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "AWS.SimpleQueueService.RequestThrottled",
        "LimitExceededException",
        "TransactionConflictException",  # a single-item write against an item in a transaction
        "TransactionInProgressException",
    }
)
UNAVAILABLE_CODES = frozenset(
    {
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "AWS.SimpleQueueService.ServiceUnavailable",
    }
)
# The reasons of a transaction cancelled by our own conditions: the item's condition
# failed, or the item passed ("None"). Any other reason (TransactionConflict,
# ThrottlingError, ProvisionedThroughputExceeded, ...) means it was not our condition,
# even beside a ConditionalCheckFailed: the condition's outcome is then unknown.
CONDITION_REASONS = frozenset({"None", "ConditionalCheckFailed"})


def reason_codes(exc: ClientError) -> list[str]:
    """The per-item codes of a cancelled transaction ("None" for items that passed)."""
    reasons: Any = exc.response.get("CancellationReasons") or []
    return [str(reason.get("Code") or "None") for reason in reasons]


def fault_of(exc: BotoCoreError | ClientError) -> str | None:
    """What failed, if `exc` is the dependency's failure; None if it is the service's
    answer to our request (a condition, a refusal) for the caller to read."""
    if isinstance(exc, ParamValidationError):
        return None  # our request is malformed: a bug, not an outage
    if isinstance(exc, BotoCoreError):
        return type(exc).__name__  # timeouts, connection errors, unreadable replies
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in THROTTLING_CODES or code in UNAVAILABLE_CODES or status >= 500:
        return code or f"HTTP {status}"
    if code == "TransactionCanceledException":
        others = sorted(set(reason_codes(exc)) - CONDITION_REASONS)
        if others:
            return f"{code} ({', '.join(others)})"
    return None


def call_guarded(service: str, operation: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """`call(*args, **kwargs)`, its dependency failures as DependencyUnavailable."""
    try:
        return call(*args, **kwargs)
    except (BotoCoreError, ClientError) as exc:
        fault = fault_of(exc)
        if fault is None:
            raise
        raise DependencyUnavailable(f"{service} {operation}: {fault}") from exc


class GuardedClient:
    """A boto3 client whose operations raise DependencyUnavailable for the dependency's
    failures (`fault_of`); everything else is the client's own."""

    def __init__(self, client: Any) -> None:
        self.client = client
        meta = getattr(client, "meta", None)
        model = getattr(meta, "service_model", None)
        self.service = str(getattr(model, "service_name", "") or type(client).__name__)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if name.startswith("_") or name == "meta" or not callable(attribute):
            return attribute
        return functools.partial(call_guarded, self.service, name, attribute)


def guarded(client: Any) -> Any:
    """`client` with its dependency failures as DependencyUnavailable (once)."""
    return client if isinstance(client, GuardedClient) else GuardedClient(client)
