"""storage/faults.py's sorting of failures, and the clients' retry settings, without moto."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)

from stateless_auth.domain.errors import DependencyUnavailable
from stateless_auth.storage import aws_clients
from stateless_auth.storage.faults import fault_of, guarded


def client_error(code: str, status: int = 400, *reasons: str) -> ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    if reasons:
        response["CancellationReasons"] = [{"Code": reason} for reason in reasons]
    return ClientError(response, "AnOperation")  # type: ignore[arg-type]


FAULTS = [
    client_error("ProvisionedThroughputExceededException"),
    client_error("ThrottlingException"),
    client_error("RequestLimitExceeded"),
    client_error("TooManyRequestsException", 429),
    client_error("InternalServerError", 500),
    client_error("ServiceUnavailable", 503),
    client_error("SomethingNew", 502),
    client_error("TransactionConflictException"),
    client_error("TransactionCanceledException", 400, "TransactionConflict", "None"),
    client_error("TransactionCanceledException", 400, "None", "ThrottlingError"),
    client_error(
        "TransactionCanceledException", 400, "ConditionalCheckFailed", "TransactionConflict"
    ),
    client_error("TransactionCanceledException", 400, "ProvisionedThroughputExceeded"),
    ReadTimeoutError(endpoint_url="https://x.invalid/"),
    ConnectTimeoutError(endpoint_url="https://x.invalid/"),
    EndpointConnectionError(endpoint_url="https://x.invalid/"),
    ConnectionClosedError(endpoint_url="https://x.invalid/"),
]
ANSWERS = [
    client_error("ConditionalCheckFailedException"),
    client_error("TransactionCanceledException", 400, "ConditionalCheckFailed", "None"),
    client_error("TransactionCanceledException", 400, "None", "ConditionalCheckFailed"),
    client_error("ValidationException"),
    client_error("ResourceNotFoundException"),
    ParamValidationError(report="a bug"),
]


@pytest.mark.parametrize("error", FAULTS, ids=lambda e: str(e)[:60])
def test_a_dependency_failure_is_a_fault(error: Exception) -> None:
    assert fault_of(error)  # type: ignore[arg-type]


@pytest.mark.parametrize("error", ANSWERS, ids=lambda e: str(e)[:60])
def test_our_condition_or_a_bug_stays_the_callers(error: Exception) -> None:
    assert fault_of(error) is None  # type: ignore[arg-type]


class Client:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def put_item(self, **_: Any) -> None:
        raise self.error


def test_the_guard_raises_dependency_unavailable_for_faults_only() -> None:
    with pytest.raises(DependencyUnavailable, match="TransactionConflict"):
        guarded(Client(FAULTS[10])).put_item(TableName="t")
    with pytest.raises(ClientError):
        guarded(Client(ANSWERS[0])).put_item(TableName="t")
    assert guarded(guarded(Client(ANSWERS[0]))).client.__class__ is Client


def test_every_client_gives_up_before_the_functions_timeout() -> None:
    """A call whose every attempt times out must end in the function's own 503, not in
    Lambda cutting the function off at its Timeout (nor API Gateway at 30 s)."""
    from tests.support.aws import project_template

    config = aws_clients.client_config()
    assert config.retries == {"mode": "standard", "max_attempts": 3}
    # Every attempt timing out, plus standard mode's backoff (under 1 s, then 2 s).
    worst = config.retries["max_attempts"] * (config.connect_timeout + config.read_timeout) + 3
    function_timeout = project_template()["Globals"]["Function"]["Timeout"]
    assert worst < function_timeout < 30


def test_the_functions_clients_have_the_settings(faults: Any) -> None:
    for name in ("login", "signup", "mailer"):
        handler = faults.stack.handlers[name]
        for value in vars(handler).values():
            meta = getattr(value, "meta", None)
            if meta is not None and hasattr(meta, "config"):
                assert meta.config.retries["mode"] == "standard", name
                assert meta.config.read_timeout == aws_clients.READ_TIMEOUT_SECONDS


def test_a_transient_failure_is_retried_by_botocore(faults: Any) -> None:
    """A 500 on the first attempt (below botocore's retries, in before-send): the call is
    retried and the route answers as if nothing had failed."""
    from tests.support.events import with_json_body

    event = with_json_body("verify_email_resend.json", {"email": "transient@faults.example.com"})
    faults.injector.transient, faults.injector.sends = 1, 0
    try:
        reply = faults.stack.invoke("verify_email", event)
    finally:
        faults.injector.transient = 0
    assert reply["statusCode"] == 202, reply
    assert faults.injector.sends == 2  # the failed attempt and its retry
