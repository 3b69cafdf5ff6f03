"""SQS event source mappings in process: one poller thread per mapping, as Lambda's.

Each poller receives up to the mapping's BatchSize messages from the embedded moto (all
attributes, the queue's visibility timeout), hands them to the function as the SQS event
Lambda builds, and deletes what the function handled: every message when it returns;
with ``ReportBatchItemFailures``, all but the ``batchItemFailures`` it names (an
identifier not in the batch fails the whole batch, as in Lambda); none when it raises,
so that they come back after the visibility timeout, and moto moves them to the
dead-letter queue after the redrive policy's ``maxReceiveCount``.

A message is handed over only once it is ``min_age`` old: locally the request that
enqueued a job and the job run in one process, and the job must not compete with its
own HTTP answer while that is still being written (DESIGN "Email"). The wait holds no
lock. Receives never long-poll: the moto lock is held for the whole of each call.
"""

from __future__ import annotations

import base64
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from localapi.model import QueueMappingSpec
from localapi.runtime import LoadedFunction

MIN_MESSAGE_AGE_SECONDS = 0.2
IDLE_POLL_SECONDS = 0.05
SQS_RECEIVE_LIMIT = 10  # messages per ReceiveMessage call


def _lambda_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """An SQS API message attribute as Lambda's event spells it."""
    binary = value.get("BinaryValue")
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [
            base64.b64encode(item).decode() for item in value.get("BinaryListValues") or []
        ],
        "dataType": value.get("DataType", "String"),
    }


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of Lambda's SQS event from a ReceiveMessage message."""
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _lambda_message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_message_ids(result: Any, batch: list[str]) -> tuple[set[str], str | None]:
    """The messages a ReportBatchItemFailures answer fails, and why if it fails them all.

    No answer, an empty one, or no ``batchItemFailures``: none failed. An entry without
    an identifier of the batch: Lambda fails the whole batch.
    """
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return set(), None
    failures = result["batchItemFailures"]
    if not isinstance(failures, list):
        return set(batch), f"batchItemFailures is not a list: {failures!r}"[:200]
    failed: set[str] = set()
    for entry in failures:
        identifier = entry.get("itemIdentifier") if isinstance(entry, dict) else None
        if identifier not in batch:
            return set(batch), f"batchItemFailures names {entry!r}, not a message of the batch"
        failed.add(str(identifier))
    return failed, None


class QueuePoller:
    """One event source mapping: a daemon thread from ``start()`` to ``stop()``."""

    def __init__(
        self,
        mapping: QueueMappingSpec,
        function: LoadedFunction,
        sqs_client: Any,
        *,
        queue_url: str,
        queue_arn: str,
        region: str,
        log: Callable[[str], None],
        min_age: float = MIN_MESSAGE_AGE_SECONDS,
        idle_poll: float = IDLE_POLL_SECONDS,
    ) -> None:
        self.mapping = mapping
        self.function = function
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.log = log
        self.min_age = min_age
        self.idle_poll = idle_poll
        attributes = sqs_client.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"]
        )["Attributes"]
        self.visibility_timeout = int(attributes["VisibilityTimeout"])
        self._stop = threading.Event()
        self._state = threading.Lock()
        self._busy = False
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return f"{self.mapping.logical_id} ({self.mapping.queue_id} -> {self.mapping.function_id})"

    def start(self) -> QueuePoller:
        self._thread = threading.Thread(
            target=self._run, name=f"localapi-sqs-{self.mapping.logical_id}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def drained(self) -> bool:
        """No message visible and none being handled (delayed ones and those waiting for
        their visibility timeout after a failure are due later)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        visible = int(attributes["ApproximateNumberOfMessages"])
        # Read after the count: a message received before it was read keeps _busy set
        # until it is handled, so an empty count and an idle poller mean nothing is left.
        with self._state:
            busy = self._busy
        return visible == 0 and not busy

    # -- the thread --------------------------------------------------------------------

    def _set_busy(self, busy: bool) -> None:
        with self._state:
            self._busy = busy

    def _run(self) -> None:
        while not self._stop.is_set():
            self._set_busy(True)
            try:
                handled = self._poll_once()
            except Exception as exc:  # the embedded AWS failed: say so, keep polling
                self.log(f"{self.name}: polling failed: {type(exc).__name__}: {exc}")
                handled = False
            finally:
                self._set_busy(False)
            if not handled:
                self._stop.wait(self.idle_poll)

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while len(messages) < self.mapping.batch_size and not self._stop.is_set():
            reply = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(SQS_RECEIVE_LIMIT, self.mapping.batch_size - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                VisibilityTimeout=self.visibility_timeout,
                WaitTimeSeconds=0,
            )
            received = reply.get("Messages") or []
            messages += received
            if len(received) < SQS_RECEIVE_LIMIT:
                break
        return messages

    def _wait_until_due(self, messages: list[dict[str, Any]]) -> None:
        newest = max(int((m.get("Attributes") or {}).get("SentTimestamp", 0)) for m in messages)
        delay = min(self.min_age, self.min_age - (time.time() - newest / 1000))
        if delay > 0:
            self._stop.wait(delay)

    def _poll_once(self) -> bool:
        """Receive and handle one batch; False when there was none."""
        messages = self._receive()
        if not messages:
            return False
        self._wait_until_due(messages)
        if self._stop.is_set():
            return True  # they come back after the visibility timeout
        ids = [str(message["MessageId"]) for message in messages]
        event = {"Records": [sqs_record(m, self.queue_arn, self.region) for m in messages]}
        retry = f"they come back after the visibility timeout ({self.visibility_timeout}s)"
        try:
            result, elapsed = self.function.invoke(event)
        except Exception as exc:
            self.log(
                f"{self.mapping.function_id} raised {type(exc).__name__} on a batch of "
                f"{len(ids)} from {self.mapping.queue_id} ({self.mapping.logical_id}); {retry}\n"
                + traceback.format_exc().rstrip()
            )
            return True
        if elapsed > self.function.spec.timeout_seconds:
            self.log(
                f"{self.mapping.function_id} took {elapsed:.2f}s, more than its Timeout of "
                f"{self.function.spec.timeout_seconds:g}s: Lambda would have stopped it"
            )
        failed: set[str] = set()
        if self.mapping.report_batch_item_failures:
            failed, whole = failed_message_ids(result, ids)
            if whole is not None:
                self.log(f"{self.mapping.function_id}: {whole}: the whole batch failed; {retry}")
            elif failed:
                self.log(
                    f"{self.mapping.function_id} reported {len(failed)} of {len(ids)} messages "
                    f"from {self.mapping.queue_id} failed; {retry}"
                )
        done = [m for m in messages if str(m["MessageId"]) not in failed]
        for start in range(0, len(done), SQS_RECEIVE_LIMIT):
            chunk = done[start : start + SQS_RECEIVE_LIMIT]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]}
                    for index, m in enumerate(chunk)
                ],
            )
        return True
