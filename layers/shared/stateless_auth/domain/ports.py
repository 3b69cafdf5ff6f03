"""What the use cases need from storage and the mail service, as Protocols.

`stateless_auth.storage` implements them on DynamoDB, SQS and SES; the tests' fakes
implement them in memory with DynamoDB's conditional semantics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from stateless_auth.domain.accounts import User
from stateless_auth.domain.factors import FactorUse, SpentMfaToken
from stateless_auth.domain.lockout import FailedLogins
from stateless_auth.domain.mail import MailJob, Message
from stateless_auth.domain.one_time_tokens import OneTimeToken
from stateless_auth.domain.sessions import SessionInfo, TokenRecord


class UserStore(Protocol):
    def create(self, user: User, *, replace_unverified: bool = False) -> bool:
        """Store a new user under its email, atomically. With `replace_unverified`, a
        never-verified account there (one with an expiry) is replaced; returns whether
        one was. EmailTaken if the email has any other account."""
        ...

    def get_by_email(self, email: str) -> User | None: ...

    def update_password_hash(self, email: str, password_hash: str, *, replaces: str) -> bool:
        """Swap the hash `replaces` for `password_hash` (the same password, rehashed);
        False if the stored hash is no longer `replaces`."""
        ...

    def load_for_login(self, email: str) -> tuple[User | None, FailedLogins]:
        """The user (if any) and the email's failed-login record, read together."""
        ...

    def reserve_login_attempt(
        self,
        email: str,
        seen: FailedLogins,
        *,
        now: int,
        max_failures: int,
        lockout_seconds: int,
        keep_for: int,
    ) -> tuple[bool, FailedLogins]:
        """Count one attempt as a failure before its password is checked, atomically:
        whether it may go on, and the record as it now stands."""
        ...

    def clear_failed_logins(self, email: str) -> None: ...

    def reserve_code_attempt(
        self,
        user: User,
        seen: FailedLogins,
        *,
        now: int,
        max_failures: int,
        lockout_seconds: int,
    ) -> tuple[bool, FailedLogins]:
        """As reserve_login_attempt, for one second-factor code of the account `user`
        (its own count, on the account item); AccountChanged if the account is gone or
        another one's."""
        ...

    def clear_code_failures(self, user: User) -> None:
        """A right code resets the account's count of wrong ones."""
        ...

    def release_login_attempt(self, email: str) -> None:
        """Take back one reserved attempt (the right password of a login that still needs
        its second factor): the failures counted before it stay."""
        ...

    def issue_one_time_token(
        self, token: OneTimeToken, *, password_set_id: str, require_unverified: bool
    ) -> bool:
        """Make `token` the account's one token of its purpose (ending any older one), if
        the account is still `token.user_id` with password `password_set_id` (and, with
        `require_unverified`, not verified); whether it was."""
        ...

    def find_one_time_token(self, token_hash: str) -> OneTimeToken | None: ...

    def mark_email_verified(self, token: OneTimeToken, *, now: int) -> None:
        """Use a verification token: InvalidOneTimeToken unless it is still the account's
        newest, unused and unexpired (one of concurrent uses wins)."""
        ...

    def reset_password(
        self, token: OneTimeToken, *, password_hash: str, password_set_id: str, now: int
    ) -> None:
        """Use a reset token, in one write: the new password, the email verified, every
        one-time token ended, a new sessions epoch (every session ends), the failed logins
        cleared. InvalidOneTimeToken unless the token is still good (one use wins)."""
        ...

    def change_password(
        self,
        user: User,
        *,
        password_hash: str,
        password_set_id: str,
        keep_session: SessionInfo | None,
    ) -> None:
        """A new password over the one `user` was read with, in one write: pending links
        ended, every session but `keep_session` ended, failed logins cleared.
        AccountChanged if the account or its password changed meanwhile."""
        ...

    def delete_account(self, user: User) -> None:
        """Delete the account as read (its failed logins and pending links with it);
        AccountChanged if it changed meanwhile."""
        ...

    def start_totp_enrollment(self, user: User, *, secret: str, expires_at: int) -> None:
        """Keep `secret` as the account's pending TOTP secret until `expires_at` (replacing
        a pending one); AccountChanged unless the account is still `user` (id and
        password) and has no second factor."""
        ...

    def enable_totp(
        self, user: User, *, secret: str, step: int, recovery_codes: Mapping[str, str], now: int
    ) -> None:
        """Turn the second factor on, in one write: the pending `secret` becomes the
        account's, `step` its last accepted time step, `recovery_codes` (public id ->
        hash) its codes. AccountChanged unless the account is still `user`'s id, its
        pending secret is still `secret` and unexpired at `now`, and no factor is on."""
        ...

    def renew_recovery_codes(
        self, user: User, *, factor: FactorUse, recovery_codes: Mapping[str, str]
    ) -> None:
        """Replace every recovery code, accepting `factor` in the same write.
        AccountChanged if the account, its password or its secret changed, or `factor`
        can no longer be accepted (its step or code used meanwhile)."""
        ...

    def disable_mfa(
        self, user: User, *, factor: FactorUse, keep_session: SessionInfo | None
    ) -> None:
        """Turn the second factor off (secret, codes and any pending enrolment removed)
        and end every session but `keep_session`, accepting `factor`, in one write.
        AccountChanged as renew_recovery_codes does, or if `keep_session` is no longer
        listed."""
        ...


class SessionStore(Protocol):
    def create(
        self,
        first_token: TokenRecord,
        *,
        now: int,
        account: User,
        session: SessionInfo,
        clear_failures_of: str | None = None,
        factor: FactorUse | None = None,
        spends: SpentMfaToken | None = None,
    ) -> None:
        """A new session whose current token is `first_token`, listed on `account` as
        `session` (clearing that email's failed logins in the same write when asked, and
        accepting the second factor `factor`: its step recorded or its recovery code
        removed); AccountChanged if the account is no longer as read (user, epoch,
        password) or `factor` can no longer be accepted; MfaTokenUsed if `spends` (the
        mfa_token of a verify) already opened a session."""
        ...

    def find_token(self, token_hash: str) -> TokenRecord | None: ...

    def rotate(self, old: TokenRecord, new_token_hash: str, *, now: int) -> TokenRecord:
        """Retire `old` and make `new_token_hash` current, atomically; RotationConflict
        when `old` is no longer current, its session revoked or expired; AccountChanged
        when the account is gone, at a later epoch, or its claims differ from `old`'s."""
        ...

    def revoke(self, record: TokenRecord, *, now: int) -> None:
        """End the session of `record`: revoked, and no longer listed on its account."""
        ...

    def end_session(self, email: str, user_id: str, session_id: str, *, now: int) -> bool:
        """End one session the account lists; whether it listed it."""
        ...

    def end_all_sessions(self, email: str, user_id: str) -> bool:
        """End every session of the account in one write; whether the account is
        still `user_id`."""
        ...


class MailQueue(Protocol):
    def enqueue(self, job: MailJob) -> None:
        """Queue one email job; DependencyUnavailable if the queue cannot take it."""
        ...


class MailLog(Protocol):
    def reserve_send(self, email: str, job_id: str, *, now: int, limit: int) -> bool:
        """Count one mail to `email` in its rolling hour, atomically, unless `limit` were
        already sent; whether it may go. A job counted before (a retry) is not counted
        again."""
        ...


class MailSender(Protocol):
    def send(self, to: str, message: Message) -> str:
        """Send one email; its message id. MailSendFailed if the mail service fails."""
        ...
