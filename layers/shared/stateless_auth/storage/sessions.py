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
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from stateless_auth.domain.sessions import RotationConflict, TokenRecord, TokenState
from stateless_auth.storage.users import failures_key


def session_key(session_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"SESSION#{session_id}"}}


def token_key(token_hash: str) -> dict[str, Any]:
    return {"pk": {"S": f"TOKEN#{token_hash}"}}


class SessionRepository:
    """Sessions and their refresh tokens in the sessions table."""

    def __init__(self, client: Any, table_name: str, *, users_table: str = "") -> None:
        self._client = client
        self._table = table_name
        self._users_table = users_table  # for login: clearing the failure count

    def _token_item(self, record: TokenRecord, now: int) -> dict[str, Any]:
        return {
            **token_key(record.token_hash),
            "session_id": {"S": record.session_id},
            "user_id": {"S": record.user_id},
            "email": {"S": record.email},
            "roles": {"L": [{"S": role} for role in record.roles]},
            "email_verified": {"BOOL": record.email_verified},
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
        self._client.transact_write_items(TransactItems=items)

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
        )
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
                ]
            )
        except ClientError as exc:
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
