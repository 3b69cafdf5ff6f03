"""The per-address mail limit (MAX_EMAILS_PER_HOUR) in the users table.

`MAILS#<email>`: the mails sent to an address in the last rolling hour, as `<time>|<job
id>` entries, and a version. Each send rewrites the item on the condition that the
version is the one read, so concurrent mailers cannot both take the last slot; the item
expires by TTL an hour after its last send.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from stateless_auth.storage.faults import guarded

WINDOW_SECONDS = 3600
RESERVE_ATTEMPTS = 5


def mails_key(email: str) -> str:
    return f"MAILS#{email}"


class MailLogRepository:
    """How many mails went to each address within the hour."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = guarded(client)  # dependency failures: DependencyUnavailable
        self._table = table_name

    def reserve_send(self, email: str, job_id: str, *, now: int, limit: int) -> bool:
        key = {"pk": {"S": mails_key(email)}}
        for _ in range(RESERVE_ATTEMPTS):
            item = (
                self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get(
                    "Item"
                )
                or {}
            )
            version = int(item.get("version", {}).get("N", "0"))
            entries = [entry["S"] for entry in item.get("sent", {}).get("L", [])]
            recent = [e for e in entries if int(e.split("|", 1)[0]) > now - WINDOW_SECONDS]
            if any(e.split("|", 1)[1] == job_id for e in recent):
                return True  # a retry of a job already counted
            if len(recent) >= limit:
                return False
            recent.append(f"{now}|{job_id}")
            condition = "attribute_not_exists(pk)" if not item else "version = :seen"
            values: dict[str, Any] = {} if not item else {":seen": {"N": str(version)}}
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item={
                        **key,
                        "sent": {"L": [{"S": e} for e in recent]},
                        "version": {"N": str(version + 1)},
                        "ttl": {"N": str(now + WINDOW_SECONDS)},
                    },
                    ConditionExpression=condition,
                    **({"ExpressionAttributeValues": values} if values else {}),
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    continue  # another mailer counted a send meanwhile: read again
                raise
            return True
        raise RuntimeError("the mail count stayed contended; the job will be retried")
