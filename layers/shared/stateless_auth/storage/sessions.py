"""Sessions repository: refresh-token sessions in DynamoDB (the only code touching them).

Items in the sessions table:
- `SESSION#<id>`: user, absolute expiry, the hash of the current refresh token,
  `revoked_at` once revoked.
- `TOKEN#<sha256>`: one per refresh token ever issued in the session: its session,
  state `current` or `used`, and the session's expiry. Used tokens are kept until
  the session expires, so that a replayed one is recognised and revokes the session.

Rotation is one TransactWriteItems whose conditions (token still current, session
not revoked and still pointing at this token, not expired) make at most one of any
number of concurrent refreshes with the same token win. Expiry is in the condition
because DynamoDB's TTL deletes late.

Opening a session and every rotation also check the account item in the users table
(a ConditionCheck in the same transaction): still the same user id, at the sessions
epoch the session opened under (a password reset moves it on, which ends every session
of the account at once, however many), and, on rotation, with the claims the token
carries (`email_verified`), so refreshed tokens follow the account.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from stateless_auth.domain.sessions import (
    AccountChanged,
    RotationConflict,
    TokenRecord,
    TokenState,
)
from stateless_auth.storage.users import email_key, failures_key, user_is


def session_key(session_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"SESSION#{session_id}"}}


def token_key(token_hash: str) -> dict[str, Any]:
    return {"pk": {"S": f"TOKEN#{token_hash}"}}


class SessionRepository:
    """Sessions and their refresh tokens in the sessions table."""

    def __init__(self, client: Any, table_name: str, *, users_table: str = "") -> None:
        self._client = client
        self._table = table_name
        # The account checks, and login's clearing of the failure count.
        self._users_table = users_table

    def _account_check(self, record: TokenRecord, *, claims: bool) -> dict[str, Any]:
        """A ConditionCheck that the record's account is unchanged (see the module)."""
        condition, values = user_is(record.user_id, record.sessions_epoch)
        if claims:
            if record.email_verified:
                condition += " AND email_verified = :verified"
            else:  # also an item written before the attribute existed
                condition += (
                    " AND (attribute_not_exists(email_verified) OR email_verified = :verified)"
                )
            values[":verified"] = {"BOOL": record.email_verified}
        return {
            "ConditionCheck": {
                "TableName": self._users_table,
                "Key": {"pk": {"S": email_key(record.email)}},
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
            }
        }

    def _token_item(self, record: TokenRecord, now: int) -> dict[str, Any]:
        return {
            **token_key(record.token_hash),
            "session_id": {"S": record.session_id},
            "user_id": {"S": record.user_id},
            "email": {"S": record.email},
            "roles": {"L": [{"S": role} for role in record.roles]},
            "email_verified": {"BOOL": record.email_verified},
            "sessions_epoch": {"N": str(record.sessions_epoch)},
            "state": {"S": record.state},
            "issued_at": {"N": str(now)},
            "session_expires_at": {"N": str(record.session_expires_at)},
            "ttl": {"N": str(record.session_expires_at)},
        }

    def create(
        self, first_token: TokenRecord, *, now: int, clear_failures_of: str | None = None
    ) -> None:
        """A new session whose current refresh token is `first_token`.

        `clear_failures_of` (a normalised email) also resets that email's failed-login
        count in the same transaction: a login always holds a reserved attempt, which a
        success clears, and doing both in one write keeps the happy path's round trips.
        """
        session_item = {
            **session_key(first_token.session_id),
            "user_id": {"S": first_token.user_id},
            "sessions_epoch": {"N": str(first_token.sessions_epoch)},
            "current_token_hash": {"S": first_token.token_hash},
            "created_at": {"N": str(now)},
            "expires_at": {"N": str(first_token.session_expires_at)},
            "ttl": {"N": str(first_token.session_expires_at)},
        }
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
        ]
        if self._users_table:
            items.append(self._account_check(first_token, claims=False))
        if clear_failures_of is not None:
            if not self._users_table:
                raise ValueError("this repository has no users table to clear failures in")
            items.append(
                {
                    "Delete": {
                        "TableName": self._users_table,
                        "Key": {"pk": {"S": failures_key(clear_failures_of)}},
                    }
                }
            )
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if _account_check_failed(exc, at=2):
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
        )

    def rotate(self, old: TokenRecord, new_token_hash: str, *, now: int) -> TokenRecord:
        """Retire `old` and make `new_token_hash` the session's current token, atomically."""
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
        )
        account_check = [self._account_check(old, claims=True)] if self._users_table else []
        now_value = {"N": str(now)}
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
                    *account_check,
                ]
            )
        except ClientError as exc:
            if _account_check_failed(exc, at=3):
                raise AccountChanged(old.session_id) from None
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise RotationConflict(old.session_id) from None
            raise
        return new

    def revoke(self, session_id: str, *, now: int) -> None:
        """Revoke the session: none of its refresh tokens will rotate again."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=session_key(session_id),
                UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :now)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def is_revoked(self, session_id: str) -> bool:
        """Whether the session is revoked or gone (for tests and operators)."""
        reply = self._client.get_item(
            TableName=self._table, Key=session_key(session_id), ConsistentRead=True
        )
        item = reply.get("Item")
        return item is None or "revoked_at" in item


def _account_check_failed(exc: ClientError, *, at: int) -> bool:
    """Whether a cancelled transaction failed on its account check (item `at`) alone."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons: Any = exc.response.get("CancellationReasons") or []
    codes = [str(reason.get("Code", "None")) for reason in reasons]
    return (
        len(codes) > at
        and codes[at] == "ConditionalCheckFailed"
        and all(code == "None" for i, code in enumerate(codes) if i != at)
    )
