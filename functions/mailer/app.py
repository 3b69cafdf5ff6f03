"""The mailer: the one function that sends email (SES v2), fed by the mail queue.

Each SQS record is one job (stateless_auth.domain.mail.MailJob). A send that fails is
reported as that record's failure (ReportBatchItemFailures), so SQS retries it alone; after
the queue's maxReceiveCount it moves to the dead-letter queue, where an operator sees it.
A record whose tables fail (DependencyUnavailable) fails the same way. A record that is not
one of our jobs is dropped and logged, never retried.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from stateless_auth import wiring
from stateless_auth.config import load_settings
from stateless_auth.domain.errors import DependencyUnavailable, MailSendFailed
from stateless_auth.domain.mail import MailJob, MalformedJob
from stateless_auth.storage.aws_clients import dynamodb_client, sesv2_client
from stateless_auth.usecases.deliver_mail import Outcome, deliver

logger = Logger()
metrics = Metrics()
settings = load_settings()
dynamodb = dynamodb_client()
users = wiring.user_repository(settings, dynamodb)
mail_log = wiring.mail_log(settings, dynamodb)
sender = wiring.mail_sender(settings, sesv2_client())
# Every failed record is reported in batchItemFailures, a batch whose records all failed
# too (Powertools would raise instead, failing the invocation rather than the records).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def handle_record(record: SQSRecord) -> None:
    try:
        job = MailJob.from_json(record.body)
    except MalformedJob as malformed:
        logger.error("mail job dropped", extra={"reason": str(malformed)})
        metrics.add_metric(name="EmailDropped", unit=MetricUnit.Count, value=1)
        return
    # Log the kind and job, never the address's token or the text (it carries the link).
    context = {"kind": job.kind, "job_id": job.job_id}
    try:
        delivery = deliver(job, users=users, mail_log=mail_log, sender=sender, settings=settings)
    except MailSendFailed as failed:
        logger.error("email failed", extra={**context, "reason": str(failed)})
        metrics.add_metric(name="EmailFailed", unit=MetricUnit.Count, value=1)
        raise
    except DependencyUnavailable as unavailable:
        # The tables failed (throttled, down): the record fails and SQS retries it.
        logger.warning("email deferred", extra={**context, "reason": str(unavailable)})
        raise
    if delivery.outcome is Outcome.SENT:
        logger.info("email sent", extra={**context, "message_id": delivery.message_id})
        metrics.add_metric(name="EmailSent", unit=MetricUnit.Count, value=1)
    elif delivery.outcome is Outcome.SUPPRESSED:
        logger.info("email suppressed", extra={**context, "reason": delivery.reason})
        metrics.add_metric(name="EmailSuppressed", unit=MetricUnit.Count, value=1)
    else:
        logger.info("email not needed", extra={**context, "reason": delivery.reason})
        metrics.add_metric(name="EmailSkipped", unit=MetricUnit.Count, value=1)


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=handle_record, processor=processor, context=context
        )
    )
