"""Users repository: the only code that reads or writes user items in DynamoDB.

One item per normalised email (pk `EMAIL#<email>`), written with a conditional put,
so an email is unique under any concurrency with a single round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from stateless_auth.errors import EmailTaken

DEFAULT_ROLES = ("user",)


def email_key(email: str) -> str:
    return f"EMAIL#{email}"


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    password_hash: str
    created_at: int
    roles: tuple[str, ...] = field(default=DEFAULT_ROLES)


class UserRepository:
    """Users in the users table, addressed by normalised email."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, user: User) -> None:
        """Store a new user; EmailTaken if the email already has one."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": email_key(user.email)},
                    "user_id": {"S": user.user_id},
                    "email": {"S": user.email},
                    "password_hash": {"S": user.password_hash},
                    "roles": {"L": [{"S": role} for role in user.roles]},
                    "created_at": {"N": str(user.created_at)},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise EmailTaken("an account with this email already exists") from None
            raise

    def get_by_email(self, email: str) -> User | None:
        """The user with this normalised email, if any (strongly consistent)."""
        reply = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": email_key(email)}}, ConsistentRead=True
        )
        item = reply.get("Item")
        if not item or "user_id" not in item:
            return None
        return User(
            user_id=item["user_id"]["S"],
            email=item["email"]["S"],
            password_hash=item["password_hash"]["S"],
            created_at=int(item["created_at"]["N"]),
            roles=tuple(role["S"] for role in item.get("roles", {}).get("L", [])),
        )

    def update_password_hash(self, email: str, password_hash: str) -> None:
        """Replace the stored hash (rehash on login with stronger parameters)."""
        self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": email_key(email)}},
            UpdateExpression="SET password_hash = :h",
            ConditionExpression="attribute_exists(user_id)",
            ExpressionAttributeValues={":h": {"S": password_hash}},
        )
