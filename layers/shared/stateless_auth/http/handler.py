"""The decorator every HTTP function wraps its handler in.

A handler decorated with `endpoint` receives the parsed event and returns a payload 2.0
response. Before it runs, every call passes the request checks (`cross_site.check_request`):
a state-changing call from another site answers 403 and a body that is not JSON answers
415, so no handler can forget them. An AuthError becomes its JSON error; missing keys
and a failed dependency (the mail queue) answer 503 with Retry-After (`errors.error_response`); anything unexpected is logged
(without the event) and re-raised so API Gateway answers 500.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth.domain.errors import AuthError, DependencyUnavailable, KeySetError
from stateless_auth.http.cross_site import Origins, check_request
from stateless_auth.http.errors import answer_for, error_response
from stateless_auth.http.requests import parse_event

Handler = Callable[[APIGatewayProxyEventV2, Any], dict[str, Any]]
LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def endpoint(
    logger: Logger, metrics: Metrics | None = None, *, allowed_origins: Origins
) -> Callable[[Handler], LambdaHandler]:
    """The request checks and the error answers around `handler`; `allowed_origins` are
    the function's ALLOWED_ORIGINS (or a function that reads them when a check needs them)."""

    def decorate(handler: Handler) -> LambdaHandler:
        @functools.wraps(handler)
        def wrapper(event: dict[str, Any], context: Any) -> dict[str, Any]:
            try:
                request = parse_event(event)
                check_request(request, allowed_origins)
                return handler(request, context)
            except AuthError as error:
                answer = answer_for(error)
                logger.info(
                    "request refused", extra={"status": answer.status, "error": answer.code}
                )
                if metrics is not None:
                    metrics.add_metric(
                        name=f"Refused_{answer.code}", unit=MetricUnit.Count, value=1
                    )
                return error_response(error)
            except KeySetError as error:
                logger.error("signing keys unavailable", extra={"reason": str(error)})
                if metrics is not None:
                    metrics.add_metric(name="KeysUnavailable", unit=MetricUnit.Count, value=1)
                return error_response(error)
            except DependencyUnavailable as error:
                logger.error("dependency unavailable", extra={"reason": str(error)})
                if metrics is not None:
                    metrics.add_metric(name="DependencyUnavailable", unit=MetricUnit.Count, value=1)
                return error_response(error)

        return wrapper

    return decorate


def http_handler(
    logger: Logger, metrics: Metrics | None = None, *, allowed_origins: Origins
) -> Callable[[Handler], LambdaHandler]:
    """Everything an HTTP function wraps its handler in: the request id as the logs'
    correlation id (never the event itself: it carries passwords and tokens), metrics
    flushed after each call, and `endpoint` (its request checks and error answers)."""

    def decorate(handler: Handler) -> LambdaHandler:
        wrapped = endpoint(logger, metrics, allowed_origins=allowed_origins)(handler)
        if metrics is not None:
            wrapped = metrics.log_metrics(wrapped)
        decorated: LambdaHandler = logger.inject_lambda_context(
            wrapped, correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False
        )
        return decorated

    return decorate
