"""The mail queue (SQS): where a request leaves its email job for the mailer."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stateless_auth.domain.errors import DependencyUnavailable
from stateless_auth.domain.mail import MailJob


class SqsMailQueue:
    """Jobs as SQS messages (the JSON of MailJob: no token, password or hash in them)."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def enqueue(self, job: MailJob) -> None:
        try:
            self._client.send_message(QueueUrl=self._queue_url, MessageBody=job.to_json())
        except (BotoCoreError, ClientError) as exc:
            raise DependencyUnavailable(f"mail queue: {type(exc).__name__}") from None
