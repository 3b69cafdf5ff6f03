"""Sessions repository: refresh-token sessions in DynamoDB (the only code touching them).

Items in the sessions table:
- `SESSION#<id>`: user, absolute expiry, the hash of the current refresh token,
  `revoked_at` once revoked.
- `TOKEN#<sha256>`: one per refresh token ever issued in the session: its session,
  state `current` or `used`, and the session's expiry. Used tokens are kept until
  the session expires, so that a replayed one is recognised and revokes the session.

And in the users table, `MFA#<jti>`: an mfa_token that opened its session (so it opens
no other), until it expires. And the account item lists its live sessions (storage/users.py): a
session can refresh only while its account lists it. Opening a session adds its entry
(and drops expired ones, and the least recently used beyond MAX_SESSIONS_PER_ACCOUNT);
every rotation updates the entry's `last_used_at` on the condition that it is still
there, that the account is still the same user at the same sessions epoch, and that its
`email_verified` is the one the token carries. So ending one session, or all of them,
is one write to the account item, strongly consistent, however many there are: a
refresh racing it either commits first (and its new token is then unlisted with the
rest) or fails.

Rotation is one TransactWriteItems whose conditions (token still current, session
not revoked and still pointing at this token, not expired, still listed) make at most
one of any number of concurrent refreshes with the same token win. Expiry is in the
condition because DynamoDB's TTL deletes late.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from stateless_auth.domain.accounts import User
from stateless_auth.domain.errors import MfaTokenUsed
from stateless_auth.domain.factors import FactorUse, SpentMfaToken
from stateless_auth.domain.sessions import (
    AccountChanged,
    RotationConflict,
    SessionInfo,
    TokenRecord,
    TokenState,
    sessions_to_end,
)
from stateless_auth.storage.faults import guarded
from stateless_auth.storage.users import (
    CLEAR_CODE_FAILURES,
    END_EVERY_SESSION,
    NO_SESSIONS,
    email_key,
    factor_clauses,
    failures_key,
    session_entry,
    user_is,
)

# A spent mfa_token's record outlives the token by more than the verifier's leeway.
SPENT_TOKEN_MARGIN_SECONDS = 120


def spent_mfa_token_key(token_id: str) -> str:
    """The users table's record of an mfa_token that opened its session."""
    return f"MFA#{token_id}"


def session_key(session_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"SESSION#{session_id}"}}


def token_key(token_hash: str) -> dict[str, Any]:
    return {"pk": {"S": f"TOKEN#{token_hash}"}}


class SessionRepository:
    """Sessions and their refresh tokens in the sessions table, listed on their accounts
    in the users table."""

    def __init__(self, client: Any, table_name: str, *, users_table: str) -> None:
        self._client = guarded(client)  # dependency failures: DependencyUnavailable
        self._table = table_name
        self._users_table = users_table

    def _account_key(self, email: str) -> dict[str, Any]:
        return {"pk": {"S": email_key(email)}}

    def _token_item(self, record: TokenRecord, now: int) -> dict[str, Any]:
        return {
            **token_key(record.token_hash),
            "session_id": {"S": record.session_id},
            "user_id": {"S": record.user_id},
            "email": {"S": record.email},
            "roles": {"L": [{"S": role} for role in record.roles]},
            "email_verified": {"BOOL": record.email_verified},
            "sessions_epoch": {"N": str(record.sessions_epoch)},
            "amr": {"L": [{"S": method} for method in record.amr]},
            "state": {"S": record.state},
            "issued_at": {"N": str(now)},
            "session_expires_at": {"N": str(record.session_expires_at)},
            "ttl": {"N": str(record.session_expires_at)},
        }

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
        """A new session whose current refresh token is `first_token`, listed on
        `account` (as login read it), in one transaction with, when asked, the reset of
        that email's failed-login count. AccountChanged if the account is no longer the
        one read, with the password read (a login racing a reset or a password change
        never opens a session for the old password). A second factor is accepted in the
        account's update of the same transaction: of two logins with one code (or one
        recovery code), one opens a session and the other fails here. The mfa_token a
        verify `spends` is recorded in the users table (`MFA#<jti>`, until it expires) by
        a conditional put of the same transaction: MfaTokenUsed if it already was."""
        session_item = {
            **session_key(first_token.session_id),
            "user_id": {"S": first_token.user_id},
            "sessions_epoch": {"N": str(first_token.sessions_epoch)},
            "current_token_hash": {"S": first_token.token_hash},
            "created_at": {"N": str(now)},
            "expires_at": {"N": str(first_token.session_expires_at)},
            "ttl": {"N": str(first_token.session_expires_at)},
        }
        condition, values = user_is(account.user_id, first_token.sessions_epoch)
        condition += " AND password_hash = :read_hash"
        values[":read_hash"] = {"S": account.password_hash}
        names = {"#new": first_token.session_id}
        if account.lists_sessions:
            update = "SET sessions.#new = :entry"
            values[":entry"] = session_entry(session)
            condition += " AND attribute_exists(sessions)"
            ended = sessions_to_end(account.sessions, now=now)
            if ended:
                names.update({f"#end{i}": sid for i, sid in enumerate(ended)})
                update += " REMOVE " + ", ".join(f"sessions.#end{i}" for i in range(len(ended)))
        else:  # an account made before session lists: its first list
            update = "SET sessions = :list"
            values[":list"] = {"M": {first_token.session_id: session_entry(session)}}
            condition += " AND attribute_not_exists(sessions)"
            del names["#new"]
        if factor is None:
            # A session without a second factor only while the account has none: a login
            # racing the confirm that turns one on must not open a password-only session.
            condition += " AND attribute_not_exists(totp_secret)"
        else:
            accepted = factor_clauses(factor)
            condition += f" AND {accepted.condition}"
            values.update(accepted.values)
            names.update(accepted.names)
            # A right code: the account's count of wrong ones is cleared in the same write.
            removed = [CLEAR_CODE_FAILURES]
            if accepted.action == "SET":
                set_part, _, remove_part = update.partition(" REMOVE ")
                update = f"{set_part}, {accepted.clause}"
                if remove_part:
                    removed.insert(0, remove_part)
            else:
                set_part, _, remove_part = update.partition(" REMOVE ")
                update = set_part
                removed = [part for part in (remove_part, accepted.clause) if part] + removed
            update += " REMOVE " + ", ".join(removed)
        account_update: dict[str, Any] = {
            "TableName": self._users_table,
            "Key": self._account_key(account.email),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if names:
            account_update["ExpressionAttributeNames"] = names
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": session_item,
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._token_item(first_token, now),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"Update": account_update},
        ]
        if clear_failures_of is not None:
            items.append(
                {
                    "Delete": {
                        "TableName": self._users_table,
                        "Key": {"pk": {"S": failures_key(clear_failures_of)}},
                    }
                }
            )
        if spends is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self._users_table,
                        "Item": {
                            "pk": {"S": spent_mfa_token_key(spends.token_id)},
                            "user_id": {"S": first_token.user_id},
                            # Kept past the token's expiry and the verifier's leeway.
                            "ttl": {"N": str(spends.expires_at + SPENT_TOKEN_MARGIN_SECONDS)},
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            codes = _reason_codes(exc) if _cancelled(exc) else []
            failed = {i for i, code in enumerate(codes) if code == "ConditionalCheckFailed"}
            if spends is not None and len(items) - 1 in failed:
                # Whatever else failed beside it (a replayed token with a used code).
                raise MfaTokenUsed("this mfa_token was already used; log in again") from None
            if failed == {2}:
                raise AccountChanged(first_token.session_id) from None
            raise

    def find_token(self, token_hash: str) -> TokenRecord | None:
        """The record of a refresh token by its hash (strongly consistent)."""
        reply = self._client.get_item(
            TableName=self._table, Key=token_key(token_hash), ConsistentRead=True
        )
        item = reply.get("Item")
        if not item:
            return None
        return TokenRecord(
            token_hash=token_hash,
            session_id=item["session_id"]["S"],
            user_id=item["user_id"]["S"],
            email=item["email"]["S"],
            roles=tuple(role["S"] for role in item.get("roles", {}).get("L", [])),
            state=item["state"]["S"],
            session_expires_at=int(item["session_expires_at"]["N"]),
            email_verified=bool(item.get("email_verified", {}).get("BOOL", False)),
            sessions_epoch=int(item.get("sessions_epoch", {}).get("N", "0")),
            # A session opened before amr was recorded was opened with a password alone.
            amr=tuple(m["S"] for m in item.get("amr", {}).get("L", []) if "S" in m) or ("pwd",),
        )

    def rotate(self, old: TokenRecord, new_token_hash: str, *, now: int) -> TokenRecord:
        """Retire `old` and make `new_token_hash` the session's current token, atomically;
        the account's entry for the session records the use."""
        new = TokenRecord(
            token_hash=new_token_hash,
            session_id=old.session_id,
            user_id=old.user_id,
            email=old.email,
            roles=old.roles,
            state=TokenState.CURRENT,
            session_expires_at=old.session_expires_at,
            email_verified=old.email_verified,
            sessions_epoch=old.sessions_epoch,
            amr=old.amr,
        )
        now_value = {"N": str(now)}
        account_condition, account_values = user_is(old.user_id, old.sessions_epoch)
        account_condition += " AND attribute_exists(sessions.#sid)"
        if old.email_verified:
            account_condition += " AND email_verified = :verified"
        else:  # also an item written before the attribute existed
            account_condition += (
                " AND (attribute_not_exists(email_verified) OR email_verified = :verified)"
            )
        account_values[":verified"] = {"BOOL": old.email_verified}
        account_values[":now"] = now_value
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": token_key(old.token_hash),
                            "UpdateExpression": "SET #state = :used, used_at = :now",
                            "ConditionExpression": "#state = :current AND session_expires_at > :now",
                            "ExpressionAttributeNames": {"#state": "state"},
                            "ExpressionAttributeValues": {
                                ":used": {"S": TokenState.USED},
                                ":current": {"S": TokenState.CURRENT},
                                ":now": now_value,
                            },
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": self._token_item(new, now),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": session_key(old.session_id),
                            "UpdateExpression": "SET current_token_hash = :new, rotated_at = :now",
                            "ConditionExpression": (
                                "current_token_hash = :old AND attribute_not_exists(revoked_at)"
                                " AND expires_at > :now"
                            ),
                            "ExpressionAttributeValues": {
                                ":new": {"S": new_token_hash},
                                ":old": {"S": old.token_hash},
                                ":now": now_value,
                            },
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._users_table,
                            "Key": self._account_key(old.email),
                            "UpdateExpression": "SET sessions.#sid.last_used_at = :now",
                            "ConditionExpression": account_condition,
                            "ExpressionAttributeNames": {"#sid": old.session_id},
                            "ExpressionAttributeValues": account_values,
                        }
                    },
                ]
            )
        except ClientError as exc:
            if _failed_on(exc, at=3):
                raise AccountChanged(old.session_id) from None
            if _cancelled(exc):
                raise RotationConflict(old.session_id) from None
            raise
        return new

    def revoke(self, record: TokenRecord, *, now: int) -> None:
        """End the session of `record` (logout, a replayed token): marked revoked and no
        longer listed on its account, in one transaction; if the account is gone, the
        session alone."""
        revoked = {
            "Update": {
                "TableName": self._table,
                "Key": session_key(record.session_id),
                "UpdateExpression": "SET revoked_at = if_not_exists(revoked_at, :now)",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": {":now": {"N": str(now)}},
            }
        }
        unlisted = {
            "Update": {
                "TableName": self._users_table,
                "Key": self._account_key(record.email),
                "UpdateExpression": "REMOVE sessions.#sid",
                # Never creates an item where the account is gone (it would block signup).
                "ConditionExpression": "user_id = :uid AND attribute_exists(sessions)",
                "ExpressionAttributeNames": {"#sid": record.session_id},
                "ExpressionAttributeValues": {":uid": {"S": record.user_id}},
            }
        }
        try:
            self._client.transact_write_items(TransactItems=[revoked, unlisted])
        except ClientError as exc:
            if not _cancelled(exc):
                raise
            if _failed_on(exc, at=0):
                return  # no such session item: nothing to revoke
            # The account is gone or another one's: its sessions cannot refresh anyway.
            try:
                self._client.update_item(**revoked["Update"])
            except ClientError as again:
                code = again.response.get("Error", {}).get("Code")
                if code != "ConditionalCheckFailedException":
                    raise

    def end_session(self, email: str, user_id: str, session_id: str, *, now: int) -> bool:
        """End one session of the account (`DELETE /auth/sessions/{id}`): whether the
        account listed it. Another account's session is not listed on this one, so it
        answers as an unknown id does, and nothing changes."""
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._users_table,
                            "Key": self._account_key(email),
                            "UpdateExpression": "REMOVE sessions.#sid",
                            "ConditionExpression": "user_id = :uid AND attribute_exists(sessions.#sid)",
                            "ExpressionAttributeNames": {"#sid": session_id},
                            "ExpressionAttributeValues": {":uid": {"S": user_id}},
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": session_key(session_id),
                            "UpdateExpression": "SET revoked_at = if_not_exists(revoked_at, :now)",
                            "ConditionExpression": "user_id = :uid",
                            "ExpressionAttributeValues": {
                                ":now": {"N": str(now)},
                                ":uid": {"S": user_id},
                            },
                        }
                    },
                ]
            )
        except ClientError as exc:
            if _cancelled(exc):
                return False
            raise
        return True

    def end_all_sessions(self, email: str, user_id: str) -> bool:
        """End every session of the account at once (`POST /auth/logout-all`), the
        caller's included: one write, whatever their number; whether the account is
        still `user_id`."""
        try:
            self._client.update_item(
                TableName=self._users_table,
                Key=self._account_key(email),
                UpdateExpression=f"SET {END_EVERY_SESSION}",
                ConditionExpression="user_id = :uid",
                ExpressionAttributeValues={":uid": {"S": user_id}, **NO_SESSIONS},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def is_revoked(self, session_id: str) -> bool:
        """Whether the session is revoked or gone (for tests and operators)."""
        reply = self._client.get_item(
            TableName=self._table, Key=session_key(session_id), ConsistentRead=True
        )
        item = reply.get("Item")
        return item is None or "revoked_at" in item


def _cancelled(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "TransactionCanceledException"


def _reason_codes(exc: ClientError) -> list[str]:
    reasons: Any = exc.response.get("CancellationReasons") or []
    return [str(reason.get("Code", "None")) for reason in reasons]


def _failed_on(exc: ClientError, *, at: int) -> bool:
    """Whether a cancelled transaction failed on its item `at` alone."""
    if not _cancelled(exc):
        return False
    codes = _reason_codes(exc)
    return (
        len(codes) > at
        and codes[at] == "ConditionalCheckFailed"
        and all(code == "None" for i, code in enumerate(codes) if i != at)
    )
