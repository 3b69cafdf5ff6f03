"""The handler edge: turn the service's exceptions into the contract's responses.

A handler decorated with `endpoint` receives the parsed event and returns a
payload 2.0 response. Before it runs, every call passes the request checks of
CONTRACT §3 (`httpapi.check_request`): a state-changing call from another site
answers 403 and a body that is not JSON answers 415, so no handler can forget
them. AuthError becomes its JSON error, and anything unexpected
is logged (without the event) and re-raised so API Gateway answers 500. Missing keys
answer 503 with Retry-After.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from stateless_auth.errors import AuthError, KeySetError, KeysUnavailable
from stateless_auth.httpapi import Origins, check_request, error_response, parse_event

Handler = Callable[[APIGatewayProxyEventV2, Any], dict[str, Any]]


def settings_origins() -> frozenset[str]:
    """ALLOWED_ORIGINS from the function's settings, read only when a check needs them
    (a call with a foreign Origin), so GET-only functions never load them."""
    from stateless_auth import runtime

    return runtime.settings().allowed_origins


def endpoint(
    logger: Logger, metrics: Metrics | None = None, *, allowed_origins: Origins = settings_origins
) -> Callable[[Handler], Callable[[dict[str, Any], Any], dict[str, Any]]]:
    def decorate(handler: Handler) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        @functools.wraps(handler)
        def wrapper(event: dict[str, Any], context: Any) -> dict[str, Any]:
            try:
                request = parse_event(event)
                check_request(request, allowed_origins)
                return handler(request, context)
            except AuthError as error:
                logger.info("request refused", extra={"status": error.status, "error": error.code})
                if metrics is not None:
                    metrics.add_metric(name=f"Refused_{error.code}", unit=MetricUnit.Count, value=1)
                return error_response(error)
            except KeySetError as error:
                # No usable keys yet (a new stack before its first rotation) or the
                # extension is down: say so and when to retry, rather than a bare 500.
                logger.error("signing keys unavailable", extra={"reason": str(error)})
                if metrics is not None:
                    metrics.add_metric(name="KeysUnavailable", unit=MetricUnit.Count, value=1)
                return error_response(KeysUnavailable())

        return wrapper

    return decorate


def http_handler(
    logger: Logger, metrics: Metrics | None = None, *, allowed_origins: Origins = settings_origins
) -> Callable[[Handler], Callable[[dict[str, Any], Any], dict[str, Any]]]:
    """Everything an HTTP function wraps its handler in: the request id as the logs'
    correlation id (never the event itself: it carries passwords and tokens), metrics
    flushed after each call, and `endpoint` (with its request checks; `allowed_origins`
    defaults to the settings' ALLOWED_ORIGINS)."""

    def decorate(handler: Handler) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        wrapped = endpoint(logger, metrics, allowed_origins=allowed_origins)(handler)
        if metrics is not None:
            wrapped = metrics.log_metrics(wrapped)
        decorated: Callable[[dict[str, Any], Any], dict[str, Any]] = logger.inject_lambda_context(
            wrapped, correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False
        )
        return decorated

    return decorate
