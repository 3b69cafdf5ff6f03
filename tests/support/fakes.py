"""In-memory stand-ins for the repositories, the mail queue and the mail service, with
DynamoDB's conditional semantics, and the use cases bound to them.

Each store holds one lock around every check-and-write, as DynamoDB is atomic per item
(and a transaction across its items). Where the repositories' conditional writes fail,
the fakes raise the same botocore errors (or the same domain errors the repositories turn
them into); `tests/contract/` runs one suite against both. The users and the sessions
stores share one lock, as the repositories' transactions span both tables.

The account item lists its sessions (`User.sessions`, `lists_sessions`), as the users
table does: the authority for refresh. `once_before(operation, call)` runs `call` right
before a store operation's write (outside the lock), once: the unit tests' deterministic
interleavings.

The account item also holds its second factor (`User.totp_secret`, `totp_last_step`,
`recovery_codes`, the pending enrolment): every write that accepts a factor checks what
storage/users.py's `factor_clauses` conditions on (the secret unchanged and its last
step earlier; the recovery code's hash still there) in the same atomic step as the rest
of its condition, and writes what those clauses write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import jwt
from botocore.exceptions import ClientError

from stateless_auth.config import Settings
from stateless_auth.domain import passwords
from stateless_auth.domain.accounts import Caller, User
from stateless_auth.domain.emails import ascii_address, normalise_email
from stateless_auth.domain.errors import (
    DependencyUnavailable,
    EmailTaken,
    InvalidOneTimeToken,
    MailSendFailed,
    MfaTokenUsed,
)
from stateless_auth.domain.factors import FactorUse, SpentMfaToken, TotpUse
from stateless_auth.domain.lockout import FailedLogins
from stateless_auth.domain.mail import MailJob, Message
from stateless_auth.domain.mfa import time_step, totp_code
from stateless_auth.domain.one_time_tokens import OneTimeToken, Purpose
from stateless_auth.domain.sessions import (
    AccountChanged,
    RotationConflict,
    SessionInfo,
    TokenGrant,
    TokenRecord,
    TokenState,
    sessions_to_end,
)
from stateless_auth.tokens.keys import SigningKey
from stateless_auth.tokens.mfa_tokens import MfaToken, MfaTokenVerifier
from stateless_auth.usecases import mfa as mfa_usecases
from stateless_auth.usecases.account import change_password, delete_account
from stateless_auth.usecases.deliver_mail import Delivery, deliver
from stateless_auth.usecases.login import log_in
from stateless_auth.usecases.logout import log_out
from stateless_auth.usecases.refresh import refresh
from stateless_auth.usecases.reset_password import forgot_password, reset_password
from stateless_auth.usecases.sessions import end_session, list_sessions, log_out_everywhere
from stateless_auth.usecases.signup import sign_up
from stateless_auth.usecases.verify_email import resend_verification, verify_email
from tests.support.mail import token_in

MAIL_WINDOW_SECONDS = 3600
INVALID_LINK = "the link is invalid, used or expired; ask for a new one"


def _refused(code: str, operation: str) -> ClientError:
    """The error boto3 raises when DynamoDB refuses a conditional write."""
    return ClientError({"Error": {"Code": code, "Message": "condition failed"}}, operation)


class Hooks:
    """`once_before(operation, call)`: `call` runs right before the next `operation`'s
    write, outside the store's lock (so it may use the stores itself), then is dropped."""

    def __init__(self) -> None:
        self._before: dict[str, list[Callable[[], object]]] = {}

    def once_before(self, operation: str, call: Callable[[], object]) -> None:
        self._before.setdefault(operation, []).append(call)

    def _run_hooks(self, operation: str) -> None:
        for call in self._before.pop(operation, []):
            call()


def _listed(user: User, entries: Iterable[SessionInfo]) -> User:
    return replace(user, sessions=tuple(entries), lists_sessions=True)


def _without_second_factor(user: User) -> User:
    """`user` with none of the second factor's attributes (no secret, step, codes or
    pending enrolment): what a new account's put writes, and what turning it off leaves."""
    return replace(
        user,
        totp_secret="",
        totp_last_step=0,
        recovery_codes=(),
        pending_totp_secret="",
        pending_totp_expires_at=0,
        code_failures=FailedLogins(),
    )


def factor_holds(stored: User, factor: FactorUse) -> bool:
    """`factor_clauses`' condition on the account item as it stands: a TOTP code's
    `totp_secret = :secret AND (attribute_not_exists(totp_last_step) OR totp_last_step <
    :step)` (a missing step reads as 0), a recovery code's `recovery_codes.#id = :hash`."""
    if isinstance(factor, TotpUse):
        return bool(stored.totp_secret) and (
            stored.totp_secret == factor.secret and stored.totp_last_step < factor.step
        )
    return stored.recovery_code_hash(factor.code_id) == factor.code_hash


def factor_accepted(stored: User, factor: FactorUse) -> User:
    """`factor_clauses`' write: `SET totp_last_step = :step`, or `REMOVE
    recovery_codes.#id`; and, as every write that accepts a right code, the count of
    wrong codes cleared (`REMOVE code_failures, last_code_failure_at`)."""
    if isinstance(factor, TotpUse):
        return replace(stored, totp_last_step=factor.step, code_failures=FailedLogins())
    return replace(
        stored,
        code_failures=FailedLogins(),
        recovery_codes=tuple(
            (code_id, code_hash)
            for code_id, code_hash in stored.recovery_codes
            if code_id != factor.code_id
        ),
    )


def _codes(recovery_codes: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The map as the repository reads it back (sorted by public id)."""
    return tuple(sorted(recovery_codes.items()))


@dataclass(frozen=True)
class Slot:
    """What the account item keeps of its newest one-time token of one purpose."""

    token_hash: str
    expires_at: int


class FakeUsers(Hooks):
    """The users repository: users by normalised email, failed logins by email, one-time
    tokens by hash (and the account's newest per purpose, in `slots`).

    `items` holds each account as its item reads back, its session list included (the
    sessions store writes it); `pending_token_hashes` is read from `slots`."""

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, User] = {}
        self.failures: dict[str, FailedLogins] = {}
        self.one_time_tokens: dict[str, OneTimeToken] = {}  # the OTT# items
        self.slots: dict[tuple[str, Purpose], Slot] = {}  # on the EMAIL# item
        self.spent_mfa_tokens: dict[str, int] = {}  # the MFA#<jti> items: jti -> exp
        self.reservations = 0
        # Shared with the sessions store: a transaction spans both tables.
        self._lock = threading.RLock()

    def _read(self, email: str) -> User | None:
        """The account item as the repository reads it (under the lock)."""
        user = self.items.get(email)
        if user is None:
            return None
        pending = tuple(
            slot.token_hash
            for purpose in (Purpose.VERIFY_EMAIL, Purpose.RESET_PASSWORD)  # the item's order
            if (slot := self.slots.get((email, purpose))) is not None
        )
        return replace(user, pending_token_hashes=pending)

    def make_legacy(self, email: str) -> None:
        """The account as an item written before accounts listed their sessions."""
        with self._lock:
            self.items[email] = replace(self.items[email], sessions=(), lists_sessions=False)

    def create(self, user: User, *, replace_unverified: bool = False) -> bool:
        # The repository's conditional put: no item, or a never-verified one that may be
        # replaced (one with an expiry in required mode; one past it in either mode). The
        # put replaces the whole item: the old account's token slots go with it.
        with self._lock:
            old = self.items.get(user.email)
            if old is not None:
                if old.email_verified or old.unverified_expires_at <= 0:
                    raise EmailTaken("an account with this email already exists")
                if not replace_unverified and old.unverified_expires_at > user.created_at:
                    raise EmailTaken("an account with this email already exists")
            # The put writes an empty session list, whatever `user` lists, and no second
            # factor (it has no such attributes; it replaces the whole item).
            self.items[user.email] = replace(
                _without_second_factor(user),
                sessions=(),
                lists_sessions=True,
                pending_token_hashes=(),
            )
            for purpose in Purpose:
                self.slots.pop((user.email, purpose), None)
            return old is not None

    def get_by_email(self, email: str) -> User | None:
        with self._lock:
            return self._read(email)

    def update_password_hash(self, email: str, password_hash: str, *, replaces: str) -> bool:
        # The repository's `attribute_exists(user_id) AND password_hash = :old`: never
        # creates a user, never writes over a password changed meanwhile.
        with self._lock:
            if email not in self.items or self.items[email].password_hash != replaces:
                return False
            self.items[email] = replace(self.items[email], password_hash=password_hash)
            return True

    def load_for_login(self, email: str) -> tuple[User | None, FailedLogins]:
        with self._lock:
            return self._read(email), self.failures.get(email, FailedLogins())

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
        # The repository's conditional write, checked and applied under one lock as
        # DynamoDB does per item: a slot below max_failures, or a restart once a lock ended.
        with self._lock:
            current = self.failures.get(email, FailedLogins())
            if current.count < max_failures:
                counted = FailedLogins(current.count + 1, now)
            elif (
                current.locked_for(now, max_failures=max_failures, lockout_seconds=lockout_seconds)
                <= 0
            ):
                counted = FailedLogins(1, now)
            else:
                return False, current
            self.failures[email] = counted
            self.reservations += 1
            return True, counted

    def clear_failed_logins(self, email: str) -> None:
        with self._lock:
            self.failures.pop(email, None)

    def reserve_code_attempt(
        self,
        user: User,
        seen: FailedLogins,
        *,
        now: int,
        max_failures: int,
        lockout_seconds: int,
    ) -> tuple[bool, FailedLogins]:
        # reserve_login_attempt's write on the account item's own count, conditioned on
        # `user_id = :uid` (AccountChanged when the account is gone or another one's).
        self._run_hooks("reserve_code_attempt")
        with self._lock:
            stored = self.items.get(user.email)
            if stored is None or stored.user_id != user.user_id:
                raise AccountChanged(user.user_id)
            current = stored.code_failures
            if current.count < max_failures:
                counted = FailedLogins(current.count + 1, now)
            elif (
                current.locked_for(now, max_failures=max_failures, lockout_seconds=lockout_seconds)
                <= 0
            ):
                counted = FailedLogins(1, now)
            else:
                return False, current
            self.items[user.email] = replace(stored, code_failures=counted)
            return True, counted

    def clear_code_failures(self, user: User) -> None:
        with self._lock:
            stored = self.items.get(user.email)
            if stored is not None and stored.user_id == user.user_id:
                self.items[user.email] = replace(stored, code_failures=FailedLogins())

    def release_login_attempt(self, email: str) -> None:
        # The repository's `ADD failures :minus_one` on the condition `failures > :zero`
        # (nothing happens otherwise: no item, or a count already at 0); the time of the
        # last failure stays as it was.
        self._run_hooks("release_login_attempt")
        with self._lock:
            current = self.failures.get(email)
            if current is None or current.count <= 0:
                return
            self.failures[email] = replace(current, count=current.count - 1)

    # -- one-time tokens --------------------------------------------------------------

    def issue_one_time_token(
        self, token: OneTimeToken, *, password_set_id: str, require_unverified: bool
    ) -> bool:
        # The repository's transaction: the account still `token.user_id` with that
        # password (and unverified if asked), the lookup item new. The new hash takes
        # the purpose's one slot: every older token of the purpose stops working.
        with self._lock:
            user = self.items.get(token.email)
            if (
                user is None
                or user.user_id != token.user_id
                or user.password_set_id != password_set_id
                or (require_unverified and user.email_verified)
            ):
                return False
            if token.token_hash in self.one_time_tokens:
                raise _refused("TransactionCanceledException", "TransactWriteItems")
            self.one_time_tokens[token.token_hash] = token
            self.slots[(token.email, token.purpose)] = Slot(token.token_hash, token.expires_at)
            return True

    def find_one_time_token(self, token_hash: str) -> OneTimeToken | None:
        with self._lock:
            return self.one_time_tokens.get(token_hash)

    def _check_token_use(self, token: OneTimeToken, now: int) -> User:
        """The condition of every use: the account's newest token of its purpose,
        unexpired, on an account that has not expired itself."""
        user = self.items.get(token.email)
        slot = self.slots.get((token.email, token.purpose))
        if (
            user is None
            or user.user_id != token.user_id
            or slot is None
            or slot.token_hash != token.token_hash
            or slot.expires_at <= now
            or (user.unverified_expires_at and user.unverified_expires_at <= now)
        ):
            raise InvalidOneTimeToken(INVALID_LINK)
        return user

    def mark_email_verified(self, token: OneTimeToken, *, now: int) -> None:
        with self._lock:
            user = self._check_token_use(token, now)
            self.items[token.email] = replace(user, email_verified=True, unverified_expires_at=0)
            self.slots.pop((token.email, Purpose.VERIFY_EMAIL), None)
            self.one_time_tokens.pop(token.token_hash, None)

    def reset_password(
        self, token: OneTimeToken, *, password_hash: str, password_set_id: str, now: int
    ) -> None:
        with self._lock:
            user = self._check_token_use(token, now)
            self.items[token.email] = replace(
                user,
                password_hash=password_hash,
                password_set_id=password_set_id,
                email_verified=True,
                sessions_epoch=user.sessions_epoch + 1,
                unverified_expires_at=0,
                sessions=(),  # END_EVERY_SESSION
                lists_sessions=True,
                pending_totp_secret="",  # a new password ends an enrolment begun
                pending_totp_expires_at=0,
            )
            for purpose in Purpose:
                self.slots.pop((token.email, purpose), None)
            self.one_time_tokens.pop(token.token_hash, None)
            self.failures.pop(token.email, None)

    # -- the account's own changes (with its password) --------------------------------

    def _unchanged(self, user: User) -> User:
        """The repository's condition: still `user.user_id` with the hash read."""
        stored = self.items.get(user.email)
        if (
            stored is None
            or stored.user_id != user.user_id
            or stored.password_hash != user.password_hash
        ):
            raise AccountChanged(user.user_id)
        return stored

    def change_password(
        self,
        user: User,
        *,
        password_hash: str,
        password_set_id: str,
        keep_session: SessionInfo | None,
    ) -> None:
        # One transaction: the account (the new password, only `keep_session` listed,
        # as read, no token slots), the FAILED# item and the OTT# items read pending.
        self._run_hooks("change_password")
        with self._lock:
            stored = self._unchanged(user)
            if keep_session is not None and all(
                s.session_id != keep_session.session_id for s in stored.sessions
            ):
                # `attribute_exists(sessions.#keep)`: never lists an ended session again.
                raise AccountChanged(user.user_id)
            self.items[user.email] = _listed(
                replace(
                    stored,
                    password_hash=password_hash,
                    password_set_id=password_set_id,
                    pending_totp_secret="",  # a new password ends an enrolment begun
                    pending_totp_expires_at=0,
                ),
                [keep_session] if keep_session is not None else [],
            )
            for purpose in Purpose:
                self.slots.pop((user.email, purpose), None)
            for token_hash in user.pending_token_hashes:
                self.one_time_tokens.pop(token_hash, None)
            self.failures.pop(user.email, None)

    def delete_account(self, user: User) -> None:
        self._run_hooks("delete_account")
        with self._lock:
            self._unchanged(user)
            del self.items[user.email]
            for purpose in Purpose:  # they were on the account item
                self.slots.pop((user.email, purpose), None)
            for token_hash in user.pending_token_hashes:
                self.one_time_tokens.pop(token_hash, None)
            self.failures.pop(user.email, None)

    # -- the second factor ------------------------------------------------------------

    def start_totp_enrollment(self, user: User, *, secret: str, expires_at: int) -> None:
        # `user_id = :uid AND password_hash = :ph AND attribute_not_exists(totp_secret)`;
        # `SET pending_totp_secret, pending_totp_expires_at` (a pending one is replaced).
        self._run_hooks("start_totp_enrollment")
        with self._lock:
            stored = self._unchanged(user)
            if stored.totp_secret:
                raise AccountChanged(user.user_id)
            self.items[user.email] = replace(
                stored, pending_totp_secret=secret, pending_totp_expires_at=expires_at
            )

    def enable_totp(
        self, user: User, *, secret: str, step: int, recovery_codes: Mapping[str, str], now: int
    ) -> None:
        # `user_id = :uid AND pending_totp_secret = :s AND pending_totp_expires_at > :now
        # AND attribute_not_exists(totp_secret)` (the password is not in it); the secret,
        # its step and the codes set, the pending enrolment removed.
        self._run_hooks("enable_totp")
        with self._lock:
            stored = self.items.get(user.email)
            if (
                stored is None
                or stored.user_id != user.user_id
                or not stored.pending_totp_secret
                or stored.pending_totp_secret != secret
                or stored.pending_totp_expires_at <= now
                or stored.totp_secret
            ):
                raise AccountChanged(user.user_id)
            self.items[user.email] = replace(
                stored,
                totp_secret=secret,
                totp_last_step=step,
                recovery_codes=_codes(recovery_codes),
                pending_totp_secret="",
                pending_totp_expires_at=0,
                code_failures=FailedLogins(),  # the confirming code was right
            )

    def _with_factor(self, user: User, factor: FactorUse) -> User:
        """`_own_factor_update`'s condition: still `user.user_id` with the hash read, and
        `factor` still acceptable."""
        stored = self._unchanged(user)
        if not factor_holds(stored, factor):
            raise AccountChanged(user.user_id)
        return stored

    def renew_recovery_codes(
        self, user: User, *, factor: FactorUse, recovery_codes: Mapping[str, str]
    ) -> None:
        # `SET recovery_codes = :codes` (and a TOTP code's step); a recovery code is only
        # in the condition, the whole map being replaced.
        self._run_hooks("renew_recovery_codes")
        with self._lock:
            stored = self._with_factor(user, factor)
            if isinstance(factor, TotpUse):
                stored = factor_accepted(stored, factor)
            self.items[user.email] = replace(
                stored, recovery_codes=_codes(recovery_codes), code_failures=FailedLogins()
            )

    def disable_mfa(
        self, user: User, *, factor: FactorUse, keep_session: SessionInfo | None
    ) -> None:
        # The factor's condition, `attribute_exists(sessions.#keep)` when one is kept;
        # `SET sessions = :kept REMOVE totp_secret, totp_last_step, recovery_codes,
        # pending_totp_secret, pending_totp_expires_at`.
        self._run_hooks("disable_mfa")
        with self._lock:
            stored = self._with_factor(user, factor)
            if keep_session is not None and all(
                s.session_id != keep_session.session_id for s in stored.sessions
            ):
                raise AccountChanged(user.user_id)
            self.items[user.email] = _listed(
                _without_second_factor(stored),
                [keep_session] if keep_session is not None else [],
            )


class FakeSessions(Hooks):
    """The sessions repository: sessions (owner, current token, expiry, revocation) and
    tokens, listed on their accounts in the users store (as the repository's
    transactions write the users table), under the users store's lock.

    Opening a session adds its entry to the account (conditioned on the account as
    login read it: user, epoch, password hash, whether it has a list) and drops expired
    and least-recently-used ones; rotating updates the entry's `last_used_at` on the
    condition that the account still lists it (same user, epoch, `email_verified`)."""

    def __init__(self, users: FakeUsers) -> None:
        super().__init__()
        self.users = users
        self.tokens: dict[str, TokenRecord] = {}
        self.current: dict[str, str] = {}  # one entry per session: its current token's hash
        self.expires: dict[str, int] = {}
        self.owners: dict[str, str] = {}  # the SESSION# item's user_id
        self.revoked: set[str] = set()
        self._lock = users._lock

    def _entries(self, email: str) -> dict[str, SessionInfo]:
        user = self.users.items.get(email)
        return {s.session_id: s for s in user.sessions} if user is not None else {}

    def _write_entries(self, email: str, entries: dict[str, SessionInfo]) -> None:
        self.users.items[email] = _listed(self.users.items[email], entries.values())

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
        # One transaction: both puts are conditional, the account update too (with the
        # second factor's condition and write, when one is given), the spent mfa_token's
        # put too, and nothing is written (the failure count is not cleared, the factor
        # not accepted) unless every one holds; MfaTokenUsed when the spent token's put
        # fails (whatever else does), AccountChanged when only the account's condition
        # fails.
        self._run_hooks("create")
        with self._lock:
            sid = first_token.session_id
            if sid in self.current or first_token.token_hash in self.tokens:
                raise _refused("TransactionCanceledException", "TransactWriteItems")
            if spends is not None and spends.token_id in self.users.spent_mfa_tokens:
                raise MfaTokenUsed("this mfa_token was already used; log in again")
            stored = self.users.items.get(account.email)
            if (
                stored is None
                or stored.user_id != account.user_id
                or stored.sessions_epoch != first_token.sessions_epoch
                or stored.password_hash != account.password_hash
                or stored.lists_sessions != account.lists_sessions
                or (factor is not None and not factor_holds(stored, factor))
                or (factor is None and stored.mfa_enabled)  # attribute_not_exists(totp_secret)
            ):
                raise AccountChanged(sid)
            if factor is not None:
                self.users.items[account.email] = factor_accepted(stored, factor)
            if account.lists_sessions:
                entries = self._entries(account.email)
                for ended in sessions_to_end(account.sessions, now=now):  # as read
                    entries.pop(ended, None)
                entries[sid] = session
            else:  # an account made before session lists: its first list
                entries = {sid: session}
            self._write_entries(account.email, entries)
            if clear_failures_of is not None:
                self.users.failures.pop(clear_failures_of, None)
            if spends is not None:
                self.users.spent_mfa_tokens[spends.token_id] = spends.expires_at
            self.tokens[first_token.token_hash] = first_token
            self.current[sid] = first_token.token_hash
            self.expires[sid] = first_token.session_expires_at
            self.owners[sid] = first_token.user_id

    def find_token(self, token_hash: str) -> TokenRecord | None:
        with self._lock:
            return self.tokens.get(token_hash)

    def rotate(self, old: TokenRecord, new_token_hash: str, *, now: int) -> TokenRecord:
        # The repository's transaction: the old token still current and unexpired, the
        # new one new, the session still pointing at the old one, not revoked, unexpired;
        # then the account's update (AccountChanged only when it alone fails, as the
        # repository reads the cancellation reasons): same user and epoch, the session
        # still listed, `email_verified` as the record says. The new token's claims and
        # expiry come from `old`, as the repository writes them.
        self._run_hooks("rotate")
        with self._lock:
            stored = self.tokens.get(old.token_hash)
            sid = old.session_id
            if (
                stored is None
                or stored.state != TokenState.CURRENT
                or stored.session_expires_at <= now
                or new_token_hash in self.tokens
                or self.current.get(sid) != old.token_hash
                or sid in self.revoked
                or self.expires[sid] <= now
            ):
                raise RotationConflict(sid)
            user = self.users.items.get(old.email)
            entries = self._entries(old.email)
            if (
                user is None
                or user.user_id != old.user_id
                or user.sessions_epoch != old.sessions_epoch
                or sid not in entries
                or user.email_verified != old.email_verified
            ):
                raise AccountChanged(sid)
            entries[sid] = replace(entries[sid], last_used_at=now)
            self._write_entries(old.email, entries)
            new = replace(old, token_hash=new_token_hash, state=TokenState.CURRENT)
            self.tokens[old.token_hash] = replace(stored, state=TokenState.USED)
            self.tokens[new_token_hash] = new
            self.current[sid] = new_token_hash
            return new

    def revoke(self, record: TokenRecord, *, now: int) -> None:
        # The repository's transaction: the session revoked (`attribute_exists(pk)`: an
        # unknown one is left unwritten, and nothing else is) and unlisted on its account
        # (`user_id = :uid AND attribute_exists(sessions)`); if only the account's
        # condition fails (gone, another user's, no list), the session alone.
        self._run_hooks("revoke")
        with self._lock:
            sid = record.session_id
            if sid not in self.current:
                return
            self.revoked.add(sid)
            user = self.users.items.get(record.email)
            if user is not None and user.user_id == record.user_id and user.lists_sessions:
                entries = self._entries(record.email)
                entries.pop(sid, None)
                self._write_entries(record.email, entries)

    def end_session(self, email: str, user_id: str, session_id: str, *, now: int) -> bool:
        # One transaction: the account's entry removed (the account still `user_id`,
        # listing it) and the session revoked (its item's user_id `user_id`).
        self._run_hooks("end_session")
        with self._lock:
            user = self.users.items.get(email)
            entries = self._entries(email)
            if (
                user is None
                or user.user_id != user_id
                or session_id not in entries
                or self.owners.get(session_id) != user_id
            ):
                return False
            del entries[session_id]
            self._write_entries(email, entries)
            self.revoked.add(session_id)
            return True

    def end_all_sessions(self, email: str, user_id: str) -> bool:
        # One update: `SET sessions = :no_sessions` if the account is still `user_id`.
        self._run_hooks("end_all_sessions")
        with self._lock:
            user = self.users.items.get(email)
            if user is None or user.user_id != user_id:
                return False
            self._write_entries(email, {})
            return True

    def is_revoked(self, session_id: str) -> bool:
        """Whether the session is revoked or unknown (as the repository answers)."""
        with self._lock:
            return session_id not in self.current or session_id in self.revoked


class FakeMailLog:
    """The per-address mail counts: each address's sends (time, job id) of the rolling
    hour, counted under one lock as the repository's version-conditioned write does."""

    def __init__(self) -> None:
        self.sent: dict[str, list[tuple[int, str]]] = {}
        self._lock = threading.Lock()

    def reserve_send(self, email: str, job_id: str, *, now: int, limit: int) -> bool:
        with self._lock:
            recent = [
                (at, job) for at, job in self.sent.get(email, []) if at > now - MAIL_WINDOW_SECONDS
            ]
            if any(job == job_id for _, job in recent):
                return True  # a retry of a job already counted
            if len(recent) >= limit:
                return False
            self.sent[email] = [*recent, (now, job_id)]
            return True


class FakeMailQueue:
    """The mail queue: records the jobs in order; `failing` makes it refuse them as an
    unavailable SQS does (DependencyUnavailable, nothing queued)."""

    def __init__(self) -> None:
        self.jobs: list[MailJob] = []
        self.failing = False
        self._lock = threading.Lock()

    def enqueue(self, job: MailJob) -> None:
        # Through the JSON the real queue carries, so a job that would not survive it fails.
        with self._lock:
            if self.failing:
                raise DependencyUnavailable("mail queue: fake outage")
            self.jobs.append(MailJob.from_json(job.to_json()))

    def take(self) -> list[MailJob]:
        """The jobs queued so far, removed from the queue."""
        with self._lock:
            jobs, self.jobs = self.jobs, []
            return jobs


@dataclass(frozen=True)
class SentMail:
    to: str
    message: Message
    message_id: str


class FakeMailSender:
    """The mail service: records every message sent; `failing` makes it refuse them as a
    failing SES does (MailSendFailed, nothing recorded)."""

    def __init__(self) -> None:
        self.sent: list[SentMail] = []
        self.failing = False
        self._lock = threading.Lock()

    def send(self, to: str, message: Message) -> str:
        with self._lock:
            if self.failing:
                raise MailSendFailed("SES: fake failure")
            message_id = f"fake-message-{len(self.sent) + 1}"
            self.sent.append(SentMail(to, message, message_id))
            return message_id

    def to(self, email: str) -> list[SentMail]:
        """The mails sent to `email`, oldest first."""
        with self._lock:
            return [mail for mail in self.sent if mail.to == email]


@dataclass
class Flows:
    """The use cases bound to one set of dependencies, as a handler module binds them.

    Mail goes to `mail` (a queue); `deliver_queued` runs its jobs through the mailer's
    use case to `sender`, and `token_for` reads the newest link sent to an address."""

    settings: Settings
    users: FakeUsers
    sessions: FakeSessions
    signing_key: Callable[[], SigningKey]
    clock: Callable[[], float] = time.time
    mail: FakeMailQueue = field(default_factory=FakeMailQueue)
    mail_log: FakeMailLog = field(default_factory=FakeMailLog)
    sender: FakeMailSender = field(default_factory=FakeMailSender)
    # As the login function makes it at start-up.
    unknown_email_hash: str = field(default_factory=passwords.unusable_hash)
    # Verifies the logins' mfa_tokens (POST /auth/mfa/verify), with the key set's keys.
    mfa_verifier: MfaTokenVerifier | None = None

    def signup(self, email: str, password: str) -> str:
        """The normalised email; one mail job queued."""
        return sign_up(
            email,
            password,
            users=self.users,
            mail=self.mail,
            settings=self.settings,
            clock=self.clock,
        )

    def signup_verified(self, email: str, password: str) -> User:
        """Sign up, deliver the mail and follow its verification link: the account,
        ready to log in under EMAIL_VERIFICATION=required."""
        normalised = self.signup(email, password)
        self.deliver_queued()
        self.verify_email(self.token_for(normalised, "verify_email"))
        user = self.users.get_by_email(normalised)
        assert user is not None
        assert user.email_verified
        return user

    def deliver_queued(self) -> list[Delivery]:
        """Run every queued job through the mailer's use case, in order (a job whose send
        fails goes back to the queue with those after it, as SQS retries it, and its error is
        raised)."""
        deliveries = []
        jobs = self.mail.take()
        for index, job in enumerate(jobs):
            try:
                deliveries.append(self.deliver(job))
            except MailSendFailed:
                with self.mail._lock:
                    self.mail.jobs[:0] = jobs[index:]
                raise
        return deliveries

    def deliver(self, job: MailJob) -> Delivery:
        return deliver(
            job,
            users=self.users,
            mail_log=self.mail_log,
            sender=self.sender,
            settings=self.settings,
            clock=self.clock,
        )

    def token_for(self, email: str, purpose: str) -> str:
        """The token of the newest mail to `email` with a `purpose` link
        ("verify_email" or "reset_password")."""
        page = "/verify-email#" if purpose == "verify_email" else "/reset-password#"
        address = ascii_address(normalise_email(email)) or email  # as the mailer sends
        for mail in reversed(self.sender.to(address)):
            if page in mail.message.text:
                return token_in(mail.message.text, purpose, app_url=self.settings.app_url)
        raise AssertionError(f"no {purpose} link was sent to {email}")

    def verify_email(self, token: str) -> OneTimeToken:
        return verify_email(token, users=self.users, clock=self.clock)

    def resend_verification(self, email: str) -> None:
        resend_verification(email, mail=self.mail)

    def forgot_password(self, email: str) -> None:
        forgot_password(email, mail=self.mail)

    def reset_password(self, token: str, password: str) -> tuple[OneTimeToken, bool]:
        return reset_password(
            token,
            password,
            users=self.users,
            mail=self.mail,
            settings=self.settings,
            clock=self.clock,
        )

    def login(
        self, email: str, password: str, *, issuer: str, user_agent: str = "", ip: str = ""
    ) -> TokenGrant:
        """A login that opens a session (an account with no second factor due)."""
        answer = self.start_login(email, password, issuer=issuer, user_agent=user_agent, ip=ip)
        assert isinstance(answer, TokenGrant), f"a second factor is due: {answer.purpose}"
        return answer

    def start_login(
        self,
        email: str,
        password: str,
        *,
        issuer: str,
        user_agent: str = "",
        ip: str = "",
        delivery: str = "cookie",
    ) -> TokenGrant | MfaToken:
        """A login as POST /auth/login makes it: a session, or an mfa_token when a second
        factor is due (to verify, or under MFA=required to enrol)."""
        return log_in(
            email,
            password,
            user_agent=user_agent,
            ip=ip,
            users=self.users,
            sessions=self.sessions,
            signing_key=self.signing_key,
            issuer=issuer,
            settings=self.settings,
            unknown_email_hash=self.unknown_email_hash,
            delivery=delivery,
            clock=self.clock,
        )

    def mfa_token_for(self, email: str, password: str, *, issuer: str) -> MfaToken:
        """The mfa_token of a login whose second factor is due."""
        answer = self.start_login(email, password, issuer=issuer)
        assert isinstance(answer, MfaToken), "the login opened a session"
        return answer

    def refresh(self, refresh_token: str, *, issuer: str) -> TokenGrant:
        return refresh(
            refresh_token,
            sessions=self.sessions,
            users=self.users,
            signing_key=self.signing_key,
            issuer=issuer,
            settings=self.settings,
            clock=self.clock,
        )

    def logout(self, refresh_token: str) -> str | None:
        return log_out(refresh_token, sessions=self.sessions, clock=self.clock)

    # -- the caller's own (behind the authorizer) ----------------------------------------

    def list_sessions(self, caller: Caller) -> list[SessionInfo]:
        return list_sessions(caller, users=self.users, clock=self.clock)

    def end_session(self, caller: Caller, session_id: str) -> None:
        end_session(caller, session_id, sessions=self.sessions, clock=self.clock)

    def logout_all(self, caller: Caller) -> None:
        log_out_everywhere(caller, sessions=self.sessions)

    def change_password(self, caller: Caller, current: str, new: str) -> bool:
        return change_password(
            caller,
            current,
            new,
            users=self.users,
            mail=self.mail,
            settings=self.settings,
            unknown_email_hash=self.unknown_email_hash,
            clock=self.clock,
        )

    def delete_account(self, caller: Caller, password: str) -> bool:
        return delete_account(
            caller,
            password,
            users=self.users,
            mail=self.mail,
            settings=self.settings,
            unknown_email_hash=self.unknown_email_hash,
            clock=self.clock,
        )

    # -- the second factor ----------------------------------------------------------------

    def enroll_totp(self, caller: Caller, password: str) -> mfa_usecases.Enrollment:
        return mfa_usecases.enroll_totp(
            caller,
            password,
            users=self.users,
            settings=self.settings,
            unknown_email_hash=self.unknown_email_hash,
            clock=self.clock,
        )

    def confirm_totp(self, caller: Caller, code: str) -> mfa_usecases.NewRecoveryCodes:
        return mfa_usecases.confirm_totp(
            caller,
            code,
            users=self.users,
            mail=self.mail,
            settings=self.settings,
            clock=self.clock,
        )

    def enable_mfa(self, caller: Caller, password: str) -> tuple[str, tuple[str, ...]]:
        """Enrol and confirm with the code of the clock's step, as an app would: the
        secret and the recovery codes. That step is then used: the next code to work is
        a later step's (`totp_at(secret, self.clock() + 30)`)."""
        secret = self.enroll_totp(caller, password).secret
        codes = self.confirm_totp(caller, totp_at(secret, self.clock())).codes
        return secret, codes

    def verify_mfa(
        self,
        mfa_token: MfaToken | str,
        *,
        issuer: str,
        code: str | None = None,
        recovery_code: str | None = None,
        user_agent: str = "",
        ip: str = "",
    ) -> mfa_usecases.VerifiedLogin:
        """POST /auth/mfa/verify: the login's second step, with a code or a recovery code."""
        assert self.mfa_verifier is not None, "Flows made without an mfa_token verifier"
        token = mfa_token.token if isinstance(mfa_token, MfaToken) else mfa_token
        return mfa_usecases.verify_login(
            token,
            mfa_usecases.SecondFactor(code=code, recovery_code=recovery_code),
            user_agent=user_agent,
            ip=ip,
            users=self.users,
            sessions=self.sessions,
            mail=self.mail,
            verifier=self.mfa_verifier,
            signing_key=self.signing_key,
            issuer=issuer,
            settings=self.settings,
            clock=self.clock,
        )

    def login_with_code(self, email: str, password: str, code: str, *, issuer: str) -> TokenGrant:
        """Both steps of an MFA login: the password, then `code`."""
        token = self.mfa_token_for(email, password, issuer=issuer)
        return self.verify_mfa(token, issuer=issuer, code=code).grant

    def renew_recovery_codes(
        self,
        caller: Caller,
        password: str,
        *,
        code: str | None = None,
        recovery_code: str | None = None,
    ) -> mfa_usecases.NewRecoveryCodes:
        return mfa_usecases.renew_recovery_codes(
            caller,
            password,
            mfa_usecases.SecondFactor(code=code, recovery_code=recovery_code),
            users=self.users,
            mail=self.mail,
            settings=self.settings,
            unknown_email_hash=self.unknown_email_hash,
            clock=self.clock,
        )

    def disable_mfa(
        self,
        caller: Caller,
        password: str,
        *,
        code: str | None = None,
        recovery_code: str | None = None,
    ) -> bool:
        return mfa_usecases.disable_mfa(
            caller,
            password,
            mfa_usecases.SecondFactor(code=code, recovery_code=recovery_code),
            users=self.users,
            mail=self.mail,
            settings=self.settings,
            unknown_email_hash=self.unknown_email_hash,
            clock=self.clock,
        )


def totp_at(secret: str, now: float) -> str:
    """The code an authenticator app shows at `now`."""
    return totp_code(secret, time_step(now))


def caller_of(grant: TokenGrant) -> Caller:
    """The caller the authorizer would pass on for the grant's access token (its `sub`,
    `email` and `sid`; the signature is the authorizer's business, not this helper's)."""
    claims = jwt.decode(grant.access_token, options={"verify_signature": False})
    return Caller(user_id=claims["sub"], email=claims["email"], session_id=claims["sid"])


def caller_of_enrollment(token: MfaToken) -> Caller:
    """The caller the enrolment authorizer passes on for an enroll-purpose mfa_token
    (http/identity.py `caller_of(enrolling=True)`): no session, bound to the password and
    epoch the token was issued for (its `psid`, `epoch`); the signature is the
    authorizer's business, not this helper's."""
    claims = jwt.decode(token.token, options={"verify_signature": False})
    return Caller(
        user_id=claims["sub"],
        email=claims["email"],
        session_id="",
        password_set_id=claims["psid"],
        sessions_epoch=claims["epoch"],
    )
