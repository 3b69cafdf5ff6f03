"""Users repository: the users table's items (the sessions repository also removes a
failure count there, in the transaction that opens a session).

- `EMAIL#<email>`: one user per normalised email, written with a conditional put, so
  an email is unique under any concurrency with a single round trip.
- `FAILED#<email>`: consecutive failed logins for an email, whether or not an account
  exists, counted with atomic updates and expiring by TTL so unknown emails leave no
  lasting rows.
- The account item also lists its sessions (`sessions`: a map of session id to created,
  last used, expiry, user agent and IP). A session can refresh only while listed there
  (the sessions repository's rotation checks it in its transaction), so ending one is
  removing its entry and ending all is emptying the map: one write however many there
  are, and nothing to find first (`END_EVERY_SESSION`).
- The account item also holds its second factor: `totp_secret`, `totp_last_step` (every
  write that accepts a code is conditioned on an earlier step and records its own, so a
  code works once), `recovery_codes` (a map of public id to argon2id hash; a use removes
  its entry on the condition that it is there), and an enrolment not yet confirmed
  (`pending_totp_secret`, `pending_totp_expires_at`).
- `OTT#<sha256>`: a one-time token (verification or reset link) by its hash: its purpose,
  account and expiry. The account item holds the hash of its newest token per purpose,
  and every use is conditioned on that, so an older or used link does nothing. Only
  hashes are stored: no read of the table yields a working link.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from stateless_auth.domain.accounts import User
from stateless_auth.domain.errors import DependencyUnavailable, EmailTaken, InvalidOneTimeToken
from stateless_auth.domain.factors import FactorUse, TotpUse
from stateless_auth.domain.lockout import FailedLogins
from stateless_auth.domain.one_time_tokens import OneTimeToken, Purpose
from stateless_auth.domain.sessions import AccountChanged, SessionInfo
from stateless_auth.storage.faults import guarded

BATCH_GET_ATTEMPTS = 3
RESERVE_ATTEMPTS = 3


def email_key(email: str) -> str:
    return f"EMAIL#{email}"


def failures_key(email: str) -> str:
    return f"FAILED#{email}"


def one_time_token_key(token_hash: str) -> str:
    return f"OTT#{token_hash}"


# The account item's attributes for its newest token of each purpose.
TOKEN_ATTRIBUTES = {
    Purpose.VERIFY_EMAIL: ("verify_token_hash", "verify_expires_at"),
    Purpose.RESET_PASSWORD: ("reset_token_hash", "reset_expires_at"),
}


# The attributes of a failure count: the FAILED#<email> item's (wrong passwords), and the
# account item's own for wrong second-factor codes, which only a right code clears.
FAILED_PASSWORDS = ("failures", "last_failure_at")
FAILED_CODES = ("code_failures", "last_code_failure_at")
CLEAR_CODE_FAILURES = "code_failures, last_code_failure_at"


# A new password (a reset, a change) ends an enrolment begun with the old one: whoever
# began it with a stolen password must not finish it with a token that outlives it.
PENDING_ENROLLMENT = "pending_totp_secret, pending_totp_expires_at"


# The update clause, and its value, that ends every session of an account: logout-all and
# a password reset share it (a password change keeps the caller's: its own map).
END_EVERY_SESSION = "sessions = :no_sessions"
NO_SESSIONS: dict[str, Any] = {":no_sessions": {"M": {}}}


def session_entry(info: SessionInfo) -> dict[str, Any]:
    """An account's list entry for one session (DynamoDB's map form)."""
    return {
        "M": {
            "created_at": {"N": str(info.created_at)},
            "last_used_at": {"N": str(info.last_used_at)},
            "expires_at": {"N": str(info.expires_at)},
            "user_agent": {"S": info.user_agent},
            "ip": {"S": info.ip},
        }
    }


def _session_from_entry(session_id: str, entry: dict[str, Any]) -> SessionInfo:
    fields = entry.get("M", {})
    return SessionInfo(
        session_id=session_id,
        created_at=int(fields.get("created_at", {}).get("N", "0")),
        last_used_at=int(fields.get("last_used_at", {}).get("N", "0")),
        expires_at=int(fields.get("expires_at", {}).get("N", "0")),
        user_agent=fields.get("user_agent", {}).get("S", ""),
        ip=fields.get("ip", {}).get("S", ""),
    )


def user_is(user_id: str, epoch: int) -> tuple[str, dict[str, Any]]:
    """A condition on an account item: still `user_id`, at sessions epoch `epoch` (an
    item written before epochs existed is at 0). Its values use :uid and :epoch."""
    values = {":uid": {"S": user_id}, ":epoch": {"N": str(epoch)}}
    epoch_condition = "sessions_epoch = :epoch"
    if epoch == 0:
        epoch_condition = "(attribute_not_exists(sessions_epoch) OR sessions_epoch = :epoch)"
    return f"user_id = :uid AND {epoch_condition}", values


@dataclass(frozen=True)
class FactorClauses:
    """How one write accepts a second factor: its update clause (SET or REMOVE, without
    the keyword), its condition, and their names and values (prefixed, so they join any
    other write's)."""

    action: str
    clause: str
    condition: str
    names: dict[str, str]
    values: dict[str, Any]


def factor_clauses(factor: FactorUse) -> FactorClauses:
    """A TOTP code: the account's secret unchanged and its last accepted step earlier
    than this one, which the write records. A recovery code: its hash still there,
    which the write removes."""
    if isinstance(factor, TotpUse):
        return FactorClauses(
            action="SET",
            clause="totp_last_step = :mfa_step",
            condition=(
                "totp_secret = :mfa_secret"
                " AND (attribute_not_exists(totp_last_step) OR totp_last_step < :mfa_step)"
            ),
            names={},
            values={":mfa_secret": {"S": factor.secret}, ":mfa_step": {"N": str(factor.step)}},
        )
    return FactorClauses(
        action="REMOVE",
        clause="recovery_codes.#mfa_code",
        condition="recovery_codes.#mfa_code = :mfa_code_hash",
        names={"#mfa_code": factor.code_id},
        values={":mfa_code_hash": {"S": factor.code_hash}},
    )


def _cancelled(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "TransactionCanceledException"


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class UserRepository:
    """Users in the users table, addressed by normalised email."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = guarded(client)  # dependency failures: DependencyUnavailable
        self._table = table_name

    def create(self, user: User, *, replace_unverified: bool = False) -> bool:
        """Store a new user, in one conditional put; whether it replaced a never-verified
        account (`replace_unverified`: EMAIL_VERIFICATION=required). EmailTaken if the email
        has another account. A never-verified account past its expiry (TTL deletes late)
        is replaced in either mode."""
        item: dict[str, Any] = {
            "pk": {"S": email_key(user.email)},
            "user_id": {"S": user.user_id},
            "email": {"S": user.email},
            "password_hash": {"S": user.password_hash},
            "roles": {"L": [{"S": role} for role in user.roles]},
            "created_at": {"N": str(user.created_at)},
            "email_verified": {"BOOL": user.email_verified},
            "sessions_epoch": {"N": str(user.sessions_epoch)},
            "sessions": {"M": {}},
        }
        if user.password_set_id:
            item["password_set_id"] = {"S": user.password_set_id}
        if user.unverified_expires_at:
            item["ttl"] = {"N": str(user.unverified_expires_at)}
        replaceable = "email_verified = :false AND attribute_exists(#ttl)"
        if not replace_unverified:
            replaceable = "email_verified = :false AND #ttl <= :now"
        try:
            reply = self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression=f"attribute_not_exists(pk) OR ({replaceable})",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":false": {"BOOL": False},
                    **({} if replace_unverified else {":now": {"N": str(user.created_at)}}),
                },
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                raise EmailTaken("an account with this email already exists") from None
            raise
        return bool(reply.get("Attributes"))

    def get_by_email(self, email: str) -> User | None:
        """The user with this normalised email, if any (strongly consistent)."""
        reply = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": email_key(email)}}, ConsistentRead=True
        )
        item = reply.get("Item")
        if not item or "user_id" not in item:
            return None
        return _user_from_item(item)

    def load_for_login(self, email: str) -> tuple[User | None, FailedLogins]:
        """The user (if any) and the email's failed-login record, in one round trip."""
        request: dict[str, Any] = {
            self._table: {
                "Keys": [{"pk": {"S": email_key(email)}}, {"pk": {"S": failures_key(email)}}],
                "ConsistentRead": True,
            }
        }
        items: list[dict[str, Any]] = []
        for attempt in range(BATCH_GET_ATTEMPTS):  # under throttling keys may be left unread
            if attempt:
                time.sleep(0.05 * attempt)
            reply = self._client.batch_get_item(RequestItems=request)
            items += reply.get("Responses", {}).get(self._table, [])
            request = reply.get("UnprocessedKeys") or {}
            if not request:
                break
        else:  # still throttled after the retries: the caller may try again shortly
            raise DependencyUnavailable("dynamodb BatchGetItem: keys left unprocessed")
        user: User | None = None
        failures = FailedLogins()
        for item in items:
            if item["pk"]["S"] == email_key(email):
                user = _user_from_item(item)
            else:
                failures = _failures_from_item(item)
        return user, failures

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
        """Count one attempt as a failure before its password is checked (a success clears it).

        A conditional write, so that of any number of concurrent logins for one email at
        most as many are let through as failures remain: each must win a slot below
        `max_failures` (or restart the count once a lock-out has ended). Returns whether
        the attempt may go on and the record as it now stands; a refused attempt gets the
        record that refused it, whose `locked_for` gives the Retry-After.
        """
        return self._reserve(
            {"pk": {"S": failures_key(email)}},
            FAILED_PASSWORDS,
            seen,
            now=now,
            max_failures=max_failures,
            lockout_seconds=lockout_seconds,
            expiry=("#ttl = :ttl", {":ttl": {"N": str(now + keep_for)}}),
        )

    def reserve_code_attempt(
        self,
        user: User,
        seen: FailedLogins,
        *,
        now: int,
        max_failures: int,
        lockout_seconds: int,
    ) -> tuple[bool, FailedLogins]:
        """Count one second-factor code as a failure before it is checked, on the account
        item (the same rule and guarantee as reserve_login_attempt); it never creates an
        item. AccountChanged if the account is gone or another one's."""
        return self._reserve(
            {"pk": {"S": email_key(user.email)}},
            FAILED_CODES,
            seen,
            now=now,
            max_failures=max_failures,
            lockout_seconds=lockout_seconds,
            owner=user.user_id,
        )

    def _reserve(
        self,
        key: dict[str, Any],
        attributes: tuple[str, str],
        seen: FailedLogins,
        *,
        now: int,
        max_failures: int,
        lockout_seconds: int,
        expiry: tuple[str, dict[str, Any]] | None = None,
        owner: str | None = None,
    ) -> tuple[bool, FailedLogins]:
        count, last = attributes
        for _ in range(RESERVE_ATTEMPTS):
            values: dict[str, Any] = {
                ":one": {"N": "1"},
                ":now": {"N": str(now)},
                ":max": {"N": str(max_failures)},
            }
            names: dict[str, str] = {}
            extra_set = ""
            if expiry is not None:
                extra_set = ", " + expiry[0]
                values.update(expiry[1])
                names["#ttl"] = "ttl"
            lock_over = (
                seen.count >= max_failures
                and seen.locked_for(now, max_failures=max_failures, lockout_seconds=lockout_seconds)
                <= 0
            )
            if lock_over:
                # Only one of the attempts that saw this lock end may restart the count.
                update = f"SET {count} = :one, {last} = :now{extra_set}"
                condition = f"{count} >= :max AND {last} = :seen"
                values[":seen"] = {"N": str(seen.last_failure_at)}
            else:
                update = (
                    f"SET {count} = if_not_exists({count}, :zero) + :one, {last} = :now{extra_set}"
                )
                condition = f"(attribute_not_exists({count}) OR {count} < :max)"
                values[":zero"] = {"N": "0"}
            if owner is not None:  # on an account: that account, never a new item
                condition = f"user_id = :uid AND {condition}"
                values[":uid"] = {"S": owner}
            request: dict[str, Any] = {
                "TableName": self._table,
                "Key": key,
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
                "ReturnValues": "UPDATED_NEW",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
            if names:
                request["ExpressionAttributeNames"] = names
            try:
                reply = self._client.update_item(**request)
            except ClientError as exc:
                if not _condition_failed(exc):
                    raise
                old: Any = exc.response.get("Item") or {}  # ALL_OLD
                if owner is not None and old.get("user_id", {}).get("S") != owner:
                    raise AccountChanged(owner) from None
                seen = _failures_from_item(old, attributes)
                if (
                    seen.locked_for(now, max_failures=max_failures, lockout_seconds=lockout_seconds)
                    > 0
                ):
                    return False, seen
                continue  # the record moved (a lock ended or restarted meanwhile): try again
            return True, FailedLogins(
                count=int(reply["Attributes"][count]["N"]), last_failure_at=now
            )
        # Still contended after a few tries: refuse rather than check a password unbudgeted.
        return False, FailedLogins(count=max_failures, last_failure_at=now)

    def clear_code_failures(self, user: User) -> None:
        """A right code resets the account's count of wrong ones (never creates an item)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": email_key(user.email)}},
                UpdateExpression=f"REMOVE {CLEAR_CODE_FAILURES}",
                ConditionExpression="user_id = :uid",
                ExpressionAttributeValues={":uid": {"S": user.user_id}},
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise

    def clear_failed_logins(self, email: str) -> None:
        """A successful login resets the count."""
        self._client.delete_item(TableName=self._table, Key={"pk": {"S": failures_key(email)}})

    def release_login_attempt(self, email: str) -> None:
        """Take back one reserved attempt: the right password of a login that still needs
        its second factor is no failure, but the failures before it stay counted (only
        the whole login clears them), so the password alone never buys more guesses."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": failures_key(email)}},
                UpdateExpression="ADD failures :minus_one",
                ConditionExpression="failures > :zero",
                ExpressionAttributeValues={":minus_one": {"N": "-1"}, ":zero": {"N": "0"}},
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise

    def update_password_hash(self, email: str, password_hash: str, *, replaces: str) -> bool:
        """Replace the stored hash `replaces` by a new hash of the same password (rehash on
        login with stronger parameters); False if the password changed meanwhile, so a
        login racing a reset never writes the old password back."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": email_key(email)}},
                UpdateExpression="SET password_hash = :h",
                ConditionExpression="attribute_exists(user_id) AND password_hash = :old",
                ExpressionAttributeValues={":h": {"S": password_hash}, ":old": {"S": replaces}},
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    # -- one-time tokens --------------------------------------------------------------

    def issue_one_time_token(
        self, token: OneTimeToken, *, password_set_id: str, require_unverified: bool
    ) -> bool:
        """Make `token` the account's newest of its purpose, in one transaction with its
        lookup item, if the account is unchanged; whether it was."""
        hash_attribute, expiry_attribute = TOKEN_ATTRIBUTES[token.purpose]
        condition = "user_id = :uid AND "
        values: dict[str, Any] = {
            ":uid": {"S": token.user_id},
            ":h": {"S": token.token_hash},
            ":exp": {"N": str(token.expires_at)},
        }
        if password_set_id:
            condition += "password_set_id = :ps"
            values[":ps"] = {"S": password_set_id}
        else:  # an account made before password ids existed
            condition += "attribute_not_exists(password_set_id)"
        if require_unverified:
            condition += " AND email_verified = :false"
            values[":false"] = {"BOOL": False}
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": {"pk": {"S": email_key(token.email)}},
                            "UpdateExpression": f"SET {hash_attribute} = :h, {expiry_attribute} = :exp",
                            "ConditionExpression": condition,
                            "ExpressionAttributeValues": values,
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                "pk": {"S": one_time_token_key(token.token_hash)},
                                "purpose": {"S": token.purpose},
                                "email": {"S": token.email},
                                "user_id": {"S": token.user_id},
                                "expires_at": {"N": str(token.expires_at)},
                                "ttl": {"N": str(token.expires_at)},
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except ClientError as exc:
            if _cancelled(exc) and _reason_codes(exc)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        return True

    def find_one_time_token(self, token_hash: str) -> OneTimeToken | None:
        """The stored token of this hash, if any (strongly consistent)."""
        reply = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": one_time_token_key(token_hash)}},
            ConsistentRead=True,
        )
        item = reply.get("Item")
        if not item or item.get("purpose", {}).get("S") not in set(Purpose):
            return None
        return OneTimeToken(
            token_hash=token_hash,
            purpose=Purpose(item["purpose"]["S"]),
            email=item["email"]["S"],
            user_id=item["user_id"]["S"],
            expires_at=int(item["expires_at"]["N"]),
        )

    def _use_token(
        self, token: OneTimeToken, *, now: int, update: str, values: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The transaction items that use `token`: the account's update, conditioned on
        the token being its newest, unused and unexpired, and the lookup item's removal."""
        hash_attribute, expiry_attribute = TOKEN_ATTRIBUTES[token.purpose]
        return [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": {"S": email_key(token.email)}},
                    "UpdateExpression": update,
                    "ConditionExpression": (
                        f"user_id = :uid AND {hash_attribute} = :h AND {expiry_attribute} > :now"
                        " AND (attribute_not_exists(#ttl) OR #ttl > :now)"
                    ),
                    "ExpressionAttributeNames": {"#ttl": "ttl"},
                    "ExpressionAttributeValues": {
                        ":uid": {"S": token.user_id},
                        ":h": {"S": token.token_hash},
                        ":now": {"N": str(now)},
                        **values,
                    },
                }
            },
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": {"pk": {"S": one_time_token_key(token.token_hash)}},
                }
            },
        ]

    def _commit_token_use(self, items: list[dict[str, Any]]) -> None:
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if _cancelled(exc) and _reason_codes(exc)[:1] == ["ConditionalCheckFailed"]:
                raise InvalidOneTimeToken(
                    "the link is invalid, used or expired; ask for a new one"
                ) from None
            raise

    def mark_email_verified(self, token: OneTimeToken, *, now: int) -> None:
        """Use a verification token: the email verified, the account no longer expiring."""
        self._commit_token_use(
            self._use_token(
                token,
                now=now,
                update=(
                    "SET email_verified = :true REMOVE verify_token_hash, verify_expires_at, #ttl"
                ),
                values={":true": {"BOOL": True}},
            )
        )

    def reset_password(
        self, token: OneTimeToken, *, password_hash: str, password_set_id: str, now: int
    ) -> None:
        """Use a reset token: see UserStore.reset_password. One transaction."""
        items = self._use_token(
            token,
            now=now,
            update=(
                "SET password_hash = :ph, password_set_id = :ps, email_verified = :true,"
                f" {END_EVERY_SESSION}"
                " ADD sessions_epoch :one"
                " REMOVE reset_token_hash, reset_expires_at, verify_token_hash,"
                f" verify_expires_at, #ttl, {PENDING_ENROLLMENT}"
            ),
            values={
                ":ph": {"S": password_hash},
                ":ps": {"S": password_set_id},
                ":true": {"BOOL": True},
                ":one": {"N": "1"},
                **NO_SESSIONS,
            },
        )
        # Ends any lock-out in force: the owner proved control of the address.
        items.append(
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": {"pk": {"S": failures_key(token.email)}},
                }
            }
        )
        self._commit_token_use(items)

    # -- the account's own changes (with its password) --------------------------------

    def change_password(
        self,
        user: User,
        *,
        password_hash: str,
        password_set_id: str,
        keep_session: SessionInfo | None,
    ) -> None:
        """Set a new password over the one `user` was read with, in one transaction:
        every pending link ended, every session but `keep_session` ended, the failed
        logins cleared. AccountChanged if the password changed meanwhile (of two changes
        at once, one wins) or `keep_session` is no longer listed."""
        kept: dict[str, Any] = {"M": {}}
        condition = "user_id = :uid AND password_hash = :old"
        update: dict[str, Any] = {}
        if keep_session is not None:
            kept["M"][keep_session.session_id] = session_entry(keep_session)
            # Still listed as the change writes: a logout-all (or its ending) that landed
            # since the read must not be undone by writing the entry back.
            condition += " AND attribute_exists(sessions.#keep)"
            update["ExpressionAttributeNames"] = {"#keep": keep_session.session_id}
        self._commit_own_change(
            [
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": {"pk": {"S": email_key(user.email)}},
                        "UpdateExpression": (
                            "SET password_hash = :ph, password_set_id = :ps, sessions = :kept"
                            " REMOVE reset_token_hash, reset_expires_at, verify_token_hash,"
                            f" verify_expires_at, {PENDING_ENROLLMENT}"
                        ),
                        "ConditionExpression": condition,
                        "ExpressionAttributeValues": {
                            ":ph": {"S": password_hash},
                            ":ps": {"S": password_set_id},
                            ":kept": kept,
                            ":uid": {"S": user.user_id},
                            ":old": {"S": user.password_hash},
                        },
                        **update,
                    }
                },
                self._delete(failures_key(user.email)),
                *(self._delete(one_time_token_key(h)) for h in user.pending_token_hashes),
            ],
            user,
        )

    def delete_account(self, user: User) -> None:
        """Delete the account `user` was read as, with its failed logins and pending
        links, in one transaction; its sessions can no longer refresh (their account is
        gone) and expire by TTL. AccountChanged if it changed meanwhile."""
        self._commit_own_change(
            [
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": {"pk": {"S": email_key(user.email)}},
                        "ConditionExpression": "user_id = :uid AND password_hash = :old",
                        "ExpressionAttributeValues": {
                            ":uid": {"S": user.user_id},
                            ":old": {"S": user.password_hash},
                        },
                    }
                },
                self._delete(failures_key(user.email)),
                *(self._delete(one_time_token_key(h)) for h in user.pending_token_hashes),
            ],
            user,
        )

    # -- the second factor ------------------------------------------------------------

    def start_totp_enrollment(self, user: User, *, secret: str, expires_at: int) -> None:
        """Keep `secret` pending (see UserStore.start_totp_enrollment)."""
        self._update_account(
            user,
            UpdateExpression="SET pending_totp_secret = :s, pending_totp_expires_at = :exp",
            ConditionExpression=(
                "user_id = :uid AND password_hash = :ph AND attribute_not_exists(totp_secret)"
            ),
            ExpressionAttributeValues={
                ":s": {"S": secret},
                ":exp": {"N": str(expires_at)},
                ":uid": {"S": user.user_id},
                ":ph": {"S": user.password_hash},
            },
        )

    def enable_totp(
        self, user: User, *, secret: str, step: int, recovery_codes: Mapping[str, str], now: int
    ) -> None:
        """Turn the second factor on (see UserStore.enable_totp): one conditional update."""
        self._update_account(
            user,
            UpdateExpression=(
                "SET totp_secret = :s, totp_last_step = :step, recovery_codes = :codes,"
                " mfa_enabled_at = :now"
                f" REMOVE {PENDING_ENROLLMENT}, {CLEAR_CODE_FAILURES}"
            ),
            ConditionExpression=(
                "user_id = :uid AND pending_totp_secret = :s"
                " AND pending_totp_expires_at > :now AND attribute_not_exists(totp_secret)"
            ),
            ExpressionAttributeValues={
                ":s": {"S": secret},
                ":step": {"N": str(step)},
                ":codes": _codes_map(recovery_codes),
                ":now": {"N": str(now)},
                ":uid": {"S": user.user_id},
            },
        )

    def renew_recovery_codes(
        self, user: User, *, factor: FactorUse, recovery_codes: Mapping[str, str]
    ) -> None:
        """A new set of codes, accepting `factor` in the same update (a recovery code is
        only checked there: the whole map is replaced)."""
        accepted = factor_clauses(factor)
        update = "SET recovery_codes = :codes"
        if accepted.action == "SET":
            update += ", " + accepted.clause
        update += f" REMOVE {CLEAR_CODE_FAILURES}"  # a right code
        self._own_factor_update(
            user,
            update=update,
            accepted=accepted,
            values={":codes": _codes_map(recovery_codes)},
        )

    def disable_mfa(
        self, user: User, *, factor: FactorUse, keep_session: SessionInfo | None
    ) -> None:
        """Turn the second factor off and end every other session (see
        UserStore.disable_mfa), in one conditional update."""
        accepted = factor_clauses(factor)
        kept: dict[str, Any] = {"M": {}}
        condition = ""
        names: dict[str, str] = {}
        if keep_session is not None:
            kept["M"][keep_session.session_id] = session_entry(keep_session)
            # As a password change: a session ended since the read is not written back.
            condition = " AND attribute_exists(sessions.#keep)"
            names["#keep"] = keep_session.session_id
        self._own_factor_update(
            user,
            update=(
                "SET sessions = :kept REMOVE totp_secret, totp_last_step, recovery_codes,"
                f" mfa_enabled_at, {PENDING_ENROLLMENT}, {CLEAR_CODE_FAILURES}"
            ),
            accepted=accepted,
            values={":kept": kept},
            condition=condition,
            names=names,
        )

    def _own_factor_update(
        self,
        user: User,
        *,
        update: str,
        accepted: FactorClauses,
        values: dict[str, Any],
        condition: str = "",
        names: dict[str, str] | None = None,
    ) -> None:
        """An update of the account made with its password and second factor: conditioned
        on the account, its password and the factor (AccountChanged otherwise)."""
        all_names = {**(names or {}), **accepted.names}
        request: dict[str, Any] = {
            "UpdateExpression": update,
            "ConditionExpression": (
                f"user_id = :uid AND password_hash = :ph AND {accepted.condition}{condition}"
            ),
            "ExpressionAttributeValues": {
                ":uid": {"S": user.user_id},
                ":ph": {"S": user.password_hash},
                **accepted.values,
                **values,
            },
        }
        if all_names:
            request["ExpressionAttributeNames"] = all_names
        self._update_account(user, **request)

    def _update_account(self, user: User, **request: Any) -> None:
        """One conditional update of `user`'s account item; AccountChanged when its
        condition fails."""
        request.setdefault("TableName", self._table)
        request.setdefault("Key", {"pk": {"S": email_key(user.email)}})
        try:
            self._client.update_item(**request)
        except ClientError as exc:
            if _condition_failed(exc):
                raise AccountChanged(user.user_id) from None
            raise

    def _delete(self, pk: str) -> dict[str, Any]:
        return {"Delete": {"TableName": self._table, "Key": {"pk": {"S": pk}}}}

    def _commit_own_change(self, items: list[dict[str, Any]], user: User) -> None:
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if _cancelled(exc) and _reason_codes(exc)[:1] == ["ConditionalCheckFailed"]:
                raise AccountChanged(user.user_id) from None
            raise


def _reason_codes(exc: ClientError) -> list[str]:
    """The per-item codes of a cancelled transaction ("None" for items that passed)."""
    reasons: Any = exc.response.get("CancellationReasons") or []
    return [str(reason.get("Code", "None")) for reason in reasons]


def _codes_map(recovery_codes: Mapping[str, str]) -> dict[str, Any]:
    return {"M": {code_id: {"S": code_hash} for code_id, code_hash in recovery_codes.items()}}


def _failures_from_item(
    item: dict[str, Any], attributes: tuple[str, str] | None = None
) -> FailedLogins:
    count, last = attributes or FAILED_PASSWORDS
    return FailedLogins(
        count=int(item.get(count, {}).get("N", "0")),
        last_failure_at=int(item.get(last, {}).get("N", "0")),
    )


def _user_from_item(item: dict[str, Any]) -> User:
    return User(
        user_id=item["user_id"]["S"],
        email=item["email"]["S"],
        password_hash=item["password_hash"]["S"],
        created_at=int(item["created_at"]["N"]),
        roles=tuple(role["S"] for role in item.get("roles", {}).get("L", [])),
        email_verified=bool(item.get("email_verified", {}).get("BOOL", False)),
        password_set_id=item.get("password_set_id", {}).get("S", ""),
        sessions_epoch=int(item.get("sessions_epoch", {}).get("N", "0")),
        unverified_expires_at=int(item.get("ttl", {}).get("N", "0")),
        sessions=tuple(
            _session_from_entry(session_id, entry)
            for session_id, entry in item.get("sessions", {}).get("M", {}).items()
        ),
        lists_sessions="sessions" in item,
        pending_token_hashes=tuple(
            item[name]["S"]
            for name, _ in TOKEN_ATTRIBUTES.values()
            if name in item and "S" in item[name]
        ),
        totp_secret=item.get("totp_secret", {}).get("S", ""),
        totp_last_step=int(item.get("totp_last_step", {}).get("N", "0")),
        recovery_codes=tuple(
            sorted(
                (code_id, entry["S"])
                for code_id, entry in item.get("recovery_codes", {}).get("M", {}).items()
                if "S" in entry
            )
        ),
        pending_totp_secret=item.get("pending_totp_secret", {}).get("S", ""),
        pending_totp_expires_at=int(item.get("pending_totp_expires_at", {}).get("N", "0")),
        code_failures=_failures_from_item(item, FAILED_CODES),
    )
