"""Errors as the caller sees them: the one table from error to status, code and headers.

The domain's errors (stateless_auth.domain.errors) carry no HTTP; the three below exist
only at this edge. `error_response` is the shape every refusal takes:
`{"error": code, "message": text}` (docs/routes.md "Errors").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stateless_auth.domain.errors import (
    AuthError,
    DependencyUnavailable,
    EmailNotVerified,
    InvalidCode,
    InvalidCredentials,
    InvalidOneTimeToken,
    InvalidRequest,
    InvalidToken,
    KeySetError,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    MfaNotEnrolling,
    NotFound,
    ServiceUnavailable,
    TooManyAttempts,
    WeakPassword,
)
from stateless_auth.http.responses import response


class PayloadTooLarge(AuthError):
    """The request body is over the size limit."""


class UnsupportedMediaType(AuthError):
    """A request body that is not sent as Content-Type: application/json."""


class CrossSiteRequest(AuthError):
    """A state-changing call came from another site."""


@dataclass(frozen=True)
class Answer:
    """How the caller is told about one kind of error."""

    status: int
    code: str
    # Seconds for a Retry-After header, from the error; None: no such header.
    retry_after: Callable[[Any], int] | None = None
    # What the message says; None: the error's own message.
    message: str | None = None


# The error class (or its nearest listed base) -> its answer.
ANSWERS: dict[type[Exception], Answer] = {
    AuthError: Answer(400, "invalid_request"),
    InvalidRequest: Answer(400, "invalid_request"),
    WeakPassword: Answer(400, "weak_password"),
    InvalidCredentials: Answer(401, "invalid_credentials"),
    InvalidToken: Answer(401, "invalid_token"),
    # A link's token is part of the request body, not a credential of the caller.
    InvalidOneTimeToken: Answer(400, "invalid_token"),
    EmailNotVerified: Answer(403, "email_not_verified"),
    NotFound: Answer(404, "not_found"),
    # The second factor's state does not allow the request (docs/mfa.md).
    InvalidCode: Answer(400, "invalid_code"),
    MfaAlreadyEnabled: Answer(409, "mfa_already_enabled"),
    MfaNotEnabled: Answer(409, "mfa_not_enabled"),
    MfaNotEnrolling: Answer(409, "mfa_not_enrolling"),
    CrossSiteRequest: Answer(403, "cross_site_request"),
    PayloadTooLarge: Answer(413, "payload_too_large"),
    UnsupportedMediaType: Answer(415, "unsupported_media_type"),
    TooManyAttempts: Answer(429, "too_many_attempts", retry_after=lambda error: error.retry_after),
    # No usable keys yet (a new stack before its first rotation) or the extension is
    # down: say so and when to retry, rather than a bare 500; the error's own text is
    # internal detail and is only logged.
    KeySetError: Answer(
        503,
        "temporarily_unavailable",
        retry_after=lambda _: 5,
        message="the service cannot sign tokens right now; try again shortly",
    ),
    DependencyUnavailable: Answer(
        503,
        "temporarily_unavailable",
        retry_after=lambda _: 5,
        message="the service is temporarily unavailable; try again shortly",
    ),
}


def answer_for(error: AuthError | ServiceUnavailable) -> Answer:
    """The answer for `error`: its class's, or its nearest listed base's."""
    for cls in type(error).__mro__:
        answer = ANSWERS.get(cls)
        if answer is not None:
            return answer
    raise TypeError(f"{type(error).__name__} is not an error the caller is told about")


def error_headers(error: AuthError | ServiceUnavailable) -> dict[str, str]:
    """The headers a refusal carries (Retry-After while locked out or without keys)."""
    answer = answer_for(error)
    if answer.retry_after is None:
        return {}
    return {"Retry-After": str(answer.retry_after(error))}


def error_response(
    error: AuthError | ServiceUnavailable, *, cookies: list[str] | None = None
) -> dict[str, Any]:
    """The service's error shape: {"error": code, "message": text}, status and headers."""
    answer = answer_for(error)
    message = answer.message if answer.message is not None else str(error)
    return response(
        answer.status,
        {"error": answer.code, "message": message},
        headers=error_headers(error),
        cookies=cookies,
    )
