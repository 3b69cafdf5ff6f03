"""One small exception tree; mapped to HTTP only at the handler edge (stateless_auth.http)."""

from __future__ import annotations


class ConfigError(Exception):
    """A setting is missing, does not parse, or is out of range."""


class AuthError(Exception):
    """An error that a caller sees: a status, a stable code and a message for people."""

    status: int = 400
    code: str = "invalid_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def headers(self) -> dict[str, str]:
        """Extra response headers this error carries."""
        return {}


class InvalidRequest(AuthError):
    """The request is malformed: bad JSON, wrong types, missing fields."""

    status = 400
    code = "invalid_request"


class WeakPassword(AuthError):
    """The password breaks the password policy."""

    status = 400
    code = "weak_password"


class EmailTaken(AuthError):
    """An account with this (normalised) email exists."""

    status = 409
    code = "email_taken"


class PayloadTooLarge(AuthError):
    """The request body is over the size limit."""

    status = 413
    code = "payload_too_large"


class InvalidCredentials(AuthError):
    """Unknown email or wrong password: deliberately indistinguishable."""

    status = 401
    code = "invalid_credentials"


class TooManyAttempts(AuthError):
    """Logins for this email are locked out for a while."""

    status = 429
    code = "too_many_attempts"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class InvalidToken(AuthError):
    """The refresh token is unknown, expired, rotated or revoked."""

    status = 401
    code = "invalid_token"


class CrossSiteRequest(AuthError):
    """A cookie-carrying call came from another site."""

    status = 403
    code = "cross_site_request"


class KeysUnavailable(AuthError):
    """The signing keys cannot be read right now; the caller may retry shortly."""

    status = 503
    code = "temporarily_unavailable"
    retry_after = 5

    def __init__(self) -> None:
        super().__init__("the service cannot sign tokens right now; try again shortly")

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TokenVerificationError(Exception):
    """An access token failed verification (the authorizer denies it)."""


class KeySetError(Exception):
    """The signing or public key set is missing or malformed."""


class UnsupportedMediaType(AuthError):
    """A request body that is not sent as Content-Type: application/json."""

    status = 415
    code = "unsupported_media_type"
