"""The small error tree of the service, one line each.

No HTTP here: `stateless_auth.http.errors` holds the one table that turns these into
status codes, error codes and headers such as Retry-After.
"""

from __future__ import annotations


class ConfigError(Exception):
    """A setting is missing, does not parse, or is out of range."""


class AuthError(Exception):
    """An error the caller is told about, with a message for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(AuthError):
    """The request is malformed: bad JSON, wrong types, missing fields."""


class WeakPassword(AuthError):
    """The password breaks the password policy."""


class EmailTaken(AuthError):
    """An account with this (normalised) email exists."""


class InvalidCredentials(AuthError):
    """Unknown email or wrong password: deliberately indistinguishable."""


class LoginFailed(InvalidCredentials):
    """A failed login; `locked` says whether it started a lock-out (for logs and metrics)."""

    def __init__(self, locked: bool, message: str = "the email or password is incorrect") -> None:
        super().__init__(message)
        self.locked = locked


class TooManyAttempts(AuthError):
    """Logins for this email are locked out for another `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EmailNotVerified(AuthError):
    """The right password for an account whose email is not verified yet (required mode)."""


class NotFound(AuthError):
    """No such thing for this caller (another user's answers exactly the same)."""


class InvalidToken(AuthError):
    """The refresh token is unknown, expired, rotated, revoked or malformed."""


class InvalidOneTimeToken(AuthError):
    """A verification or reset link that is unknown, used, superseded, expired or malformed."""


class RefreshRejected(InvalidToken):
    """A refresh token was refused; `reason` says why for the logs."""

    def __init__(self, reason: str, session_id: str | None = None) -> None:
        super().__init__("the refresh token is invalid, expired or revoked")
        self.reason = reason
        self.session_id = session_id


class InvalidMfaToken(InvalidToken):
    """The mfa_token of a login is malformed, expired, not ours, or its account changed."""


class MfaTokenUsed(InvalidMfaToken):
    """The mfa_token already opened a session: it opens no other."""


class InvalidCode(AuthError):
    """The code that should confirm a new authenticator is wrong (nothing is on yet)."""


class MfaAlreadyEnabled(AuthError):
    """The account already has a second factor: turn it off first to enrol another."""


class MfaNotEnabled(AuthError):
    """The account has no second factor to renew codes of or turn off."""


class MfaNotEnrolling(AuthError):
    """No enrolment to confirm: none was begun, or it expired."""


class TokenVerificationError(Exception):
    """An access token failed verification (the authorizer denies it)."""


class ServiceUnavailable(Exception):
    """Something the service depends on cannot be used right now; nothing was changed."""


class KeySetError(ServiceUnavailable):
    """The signing or public key set (or the published issuer) is missing or malformed."""


class DependencyUnavailable(ServiceUnavailable):
    """A data store or queue failed (throttled, down, timed out, a transaction cancelled by
    a conflict): each write is all or nothing, so the state is one of before or after."""


class MailSendFailed(Exception):
    """The mail service refused or failed a send; the job is retried, then dead-lettered."""
