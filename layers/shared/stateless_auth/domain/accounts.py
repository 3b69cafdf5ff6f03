"""Accounts: one user per normalised email."""

from __future__ import annotations

from dataclasses import dataclass, field

from stateless_auth.domain.lockout import FailedLogins
from stateless_auth.domain.sessions import SessionInfo

DEFAULT_ROLES = ("user",)


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    password_hash: str
    created_at: int
    roles: tuple[str, ...] = field(default=DEFAULT_ROLES)
    # True once the owner proved the address (a verification or a reset link).
    email_verified: bool = False
    # A new random id whenever a password is set (signup, replacement, reset): a
    # verification link is issued for one of them only, so a link from an earlier signup
    # never verifies the password a later one set. Empty on accounts made before it.
    password_set_id: str = ""
    # Sessions opened under an older epoch no longer refresh: a reset moves it on.
    sessions_epoch: int = 0
    # When a never-verified account disappears (0: never). EMAIL_VERIFICATION=required
    # only: such an account never logged in.
    unverified_expires_at: int = 0
    # The sessions it lists (the only ones that can refresh), and whether it has the list
    # at all (accounts made before session lists have none until their next login).
    sessions: tuple[SessionInfo, ...] = ()
    lists_sessions: bool = True
    # The hashes of its pending one-time tokens (ended with the account).
    pending_token_hashes: tuple[str, ...] = ()
    # The second factor (domain/mfa.py): the TOTP secret once confirmed ("" : none), the
    # last time step a code was accepted for, and the recovery codes' hashes by public id.
    totp_secret: str = ""
    totp_last_step: int = 0
    recovery_codes: tuple[tuple[str, str], ...] = ()
    # An enrolment begun and not yet confirmed (its secret, and until when it may be).
    pending_totp_secret: str = ""
    pending_totp_expires_at: int = 0
    # Wrong second-factor codes in a row, counted on the account itself: apart from the
    # email's failed passwords, so that neither a password reset nor a change (which end
    # a password lock-out) gives back guesses at the code. Only a right code clears it.
    code_failures: FailedLogins = field(default_factory=FailedLogins)

    @property
    def mfa_enabled(self) -> bool:
        return bool(self.totp_secret)

    def recovery_code_hash(self, code_id: str) -> str | None:
        return dict(self.recovery_codes).get(code_id)

    def expired(self, now: float) -> bool:
        """A never-verified account past its expiry (DynamoDB's TTL deletes late)."""
        return (
            not self.email_verified
            and self.unverified_expires_at > 0
            and self.unverified_expires_at <= now
        )


@dataclass(frozen=True)
class Caller:
    """Who an access token says is calling (the authorizer's context)."""

    user_id: str
    email: str
    # "" for an enrolment token (MFA=required, before the account has a second factor):
    # it has no session.
    session_id: str
    # An enrolment token's binding: the password id and sessions epoch it was issued for
    # (None for an access token, whose session the account's list already binds).
    password_set_id: str | None = None
    sessions_epoch: int | None = None

    def bound_to_other_than(self, user: User) -> bool:
        """Whether this caller's enrolment token was issued for another password or
        epoch of the account than `user`'s (a reset or change since voids it)."""
        return self.password_set_id is not None and (
            self.password_set_id,
            self.sessions_epoch,
        ) != (user.password_set_id, user.sessions_epoch)
