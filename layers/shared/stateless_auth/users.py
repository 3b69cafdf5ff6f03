"""Users repository: the only code that reads or writes the users table.

- `EMAIL#<email>`: one user per normalised email, written with a conditional put, so
  an email is unique under any concurrency with a single round trip.
- `FAILED#<email>`: consecutive failed logins for an email, whether or not an account
  exists, counted with atomic updates and expiring by TTL so unknown emails leave no
  lasting rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from stateless_auth.errors import EmailTaken

DEFAULT_ROLES = ("user",)
BATCH_GET_ATTEMPTS = 3


def email_key(email: str) -> str:
    return f"EMAIL#{email}"


def failures_key(email: str) -> str:
    return f"FAILED#{email}"


@dataclass(frozen=True)
class FailedLogins:
    """Consecutive failed logins for one email and when the last one happened."""

    count: int = 0
    last_failure_at: int = 0

    def locked_for(self, now: float, *, max_failures: int, lockout_seconds: int) -> float:
        """Seconds of lock-out left (0 when not locked)."""
        if self.count < max_failures:
            return 0.0
        return max(0.0, self.last_failure_at + lockout_seconds - now)


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
        else:
            raise RuntimeError("DynamoDB left keys unprocessed after retries")
        user: User | None = None
        failures = FailedLogins()
        for item in items:
            if item["pk"]["S"] == email_key(email):
                user = _user_from_item(item)
            else:
                failures = FailedLogins(
                    count=int(item.get("failures", {}).get("N", "0")),
                    last_failure_at=int(item.get("last_failure_at", {}).get("N", "0")),
                )
        return user, failures

    def record_failed_login(
        self, email: str, seen: FailedLogins, *, now: int, restart: bool, keep_for: int
    ) -> FailedLogins:
        """Count one more failure atomically; `restart` begins a new count after a lock ended."""
        key = {"pk": {"S": failures_key(email)}}
        values = {":one": {"N": "1"}, ":now": {"N": str(now)}, ":ttl": {"N": str(now + keep_for)}}
        if restart:
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET failures = :one, last_failure_at = :now, #ttl = :ttl",
                    ConditionExpression="last_failure_at = :seen",
                    ExpressionAttributeNames={"#ttl": "ttl"},
                    ExpressionAttributeValues={**values, ":seen": {"N": str(seen.last_failure_at)}},
                )
                return FailedLogins(count=1, last_failure_at=now)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                # another failure got there first: count on top of it
        reply = self._client.update_item(
            TableName=self._table,
            Key=key,
            UpdateExpression="ADD failures :one SET last_failure_at = :now, #ttl = :ttl",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues=values,
            ReturnValues="UPDATED_NEW",
        )
        return FailedLogins(count=int(reply["Attributes"]["failures"]["N"]), last_failure_at=now)

    def clear_failed_logins(self, email: str) -> None:
        """A successful login resets the count."""
        self._client.delete_item(TableName=self._table, Key={"pk": {"S": failures_key(email)}})

    def update_password_hash(self, email: str, password_hash: str) -> None:
        """Replace the stored hash (rehash on login with stronger parameters)."""
        self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": email_key(email)}},
            UpdateExpression="SET password_hash = :h",
            ConditionExpression="attribute_exists(user_id)",
            ExpressionAttributeValues={":h": {"S": password_hash}},
        )


def _user_from_item(item: dict[str, Any]) -> User:
    return User(
        user_id=item["user_id"]["S"],
        email=item["email"]["S"],
        password_hash=item["password_hash"]["S"],
        created_at=int(item["created_at"]["N"]),
        roles=tuple(role["S"] for role in item.get("roles", {}).get("L", [])),
    )
