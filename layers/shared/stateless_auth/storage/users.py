"""Users repository: the users table's items (the sessions repository also removes a
failure count there, in the transaction that opens a session).

- `EMAIL#<email>`: one user per normalised email, written with a conditional put, so
  an email is unique under any concurrency with a single round trip.
- `FAILED#<email>`: consecutive failed logins for an email, whether or not an account
  exists, counted with atomic updates and expiring by TTL so unknown emails leave no
  lasting rows.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from stateless_auth.domain.accounts import User
from stateless_auth.domain.errors import EmailTaken
from stateless_auth.domain.lockout import FailedLogins

BATCH_GET_ATTEMPTS = 3
RESERVE_ATTEMPTS = 3


def email_key(email: str) -> str:
    return f"EMAIL#{email}"


def failures_key(email: str) -> str:
    return f"FAILED#{email}"


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
                    "email_verified": {"BOOL": user.email_verified},
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
        key = {"pk": {"S": failures_key(email)}}
        for _ in range(RESERVE_ATTEMPTS):
            values = {
                ":one": {"N": "1"},
                ":now": {"N": str(now)},
                ":ttl": {"N": str(now + keep_for)},
                ":max": {"N": str(max_failures)},
            }
            lock_over = (
                seen.count >= max_failures
                and seen.locked_for(now, max_failures=max_failures, lockout_seconds=lockout_seconds)
                <= 0
            )
            if lock_over:
                # Only one of the attempts that saw this lock end may restart the count.
                update = "SET failures = :one, last_failure_at = :now, #ttl = :ttl"
                condition = "failures >= :max AND last_failure_at = :seen"
                values[":seen"] = {"N": str(seen.last_failure_at)}
            else:
                update = (
                    "SET failures = if_not_exists(failures, :zero) + :one,"
                    " last_failure_at = :now, #ttl = :ttl"
                )
                condition = "attribute_not_exists(failures) OR failures < :max"
                values[":zero"] = {"N": "0"}
            try:
                reply = self._client.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#ttl": "ttl"},
                    ExpressionAttributeValues=values,
                    ReturnValues="UPDATED_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                old: Any = exc.response.get("Item") or {}  # ALL_OLD
                seen = _failures_from_item(old)
                if (
                    seen.locked_for(now, max_failures=max_failures, lockout_seconds=lockout_seconds)
                    > 0
                ):
                    return False, seen
                continue  # the record moved (a lock ended or restarted meanwhile): try again
            return True, FailedLogins(
                count=int(reply["Attributes"]["failures"]["N"]), last_failure_at=now
            )
        # Still contended after a few tries: refuse rather than check a password unbudgeted.
        return False, FailedLogins(count=max_failures, last_failure_at=now)

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


def _failures_from_item(item: dict[str, Any]) -> FailedLogins:
    return FailedLogins(
        count=int(item.get("failures", {}).get("N", "0")),
        last_failure_at=int(item.get("last_failure_at", {}).get("N", "0")),
    )


def _user_from_item(item: dict[str, Any]) -> User:
    return User(
        user_id=item["user_id"]["S"],
        email=item["email"]["S"],
        password_hash=item["password_hash"]["S"],
        created_at=int(item["created_at"]["N"]),
        roles=tuple(role["S"] for role in item.get("roles", {}).get("L", [])),
        email_verified=bool(item.get("email_verified", {}).get("BOOL", False)),
    )
