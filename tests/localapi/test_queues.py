"""SQS queues and event source mappings: how the local API reads them from the template
(what it accepts, what it refuses), and the SQS event and batch answers of its poller."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import boto3
import pytest

from localapi.aws import create_queues_from_template
from localapi.model import build_app_spec
from localapi.queues import failed_message_ids, sqs_record
from localapi.template import Resolver, TemplateError, load_template, parse_template
from tests.support.paths import LOCALAPI_FIXTURES as FIXTURES

MAIL_TEMPLATE = FIXTURES / "mail.yaml"
LOCAL = {"EmailFrom": "no-reply@example.com", "AppUrl": "http://127.0.0.1:3000/_localapi"}


@pytest.fixture
def mail_template() -> dict[str, Any]:
    return load_template(MAIL_TEMPLATE)


def changed(old: str, new: str) -> dict[str, Any]:
    text = MAIL_TEMPLATE.read_text(encoding="utf-8")
    assert old in text, old
    return parse_template(text.replace(old, new, 1))


def serve(template: dict[str, Any]) -> Any:
    return build_app_spec(template, FIXTURES, Resolver(template, parameter_values=LOCAL))


def test_queues_are_created_dead_letter_queue_first(
    mail_template: dict[str, Any], moto_session: boto3.session.Session
) -> None:
    resolver = Resolver(mail_template, parameter_values=LOCAL)
    sqs = moto_session.client("sqs")
    queues = create_queues_from_template(mail_template, sqs, resolver=resolver)
    assert queues == {
        "JobDeadLetterQueue": (
            "https://sqs.us-east-1.amazonaws.com/123456789012/stateless-auth-local-dead-letters"
        ),
        "JobQueue": "https://sqs.us-east-1.amazonaws.com/123456789012/JobQueue",
    }
    job = sqs.get_queue_attributes(QueueUrl=queues["JobQueue"], AttributeNames=["All"])
    dead_letter_arn = "arn:aws:sqs:us-east-1:123456789012:stateless-auth-local-dead-letters"
    assert json.loads(job["Attributes"]["RedrivePolicy"]) == {
        "deadLetterTargetArn": dead_letter_arn,
        "maxReceiveCount": 2,
    }
    assert job["Attributes"]["VisibilityTimeout"] == "1"
    assert resolver.resolve({"Ref": "JobQueue"}) == queues["JobQueue"]
    assert resolver.resolve({"Fn::GetAtt": ["JobDeadLetterQueue", "Arn"]}) == dead_letter_arn
    assert resolver.resolve({"Fn::GetAtt": ["JobDeadLetterQueue", "QueueName"]}) == (
        "stateless-auth-local-dead-letters"
    )


def test_the_mapping_feeds_the_queue_to_its_function(mail_template: dict[str, Any]) -> None:
    app = serve(mail_template)
    [mapping] = app.mappings
    assert mapping.logical_id == "ToyMailerEventSource"
    assert (mapping.queue_id, mapping.function_id) == ("JobQueue", "ToyMailerFunction")
    assert (mapping.batch_size, mapping.report_batch_item_failures, mapping.enabled) == (
        10,
        True,
        True,
    )
    mailer = app.functions["ToyMailerFunction"].environment  # loaded although it has no route
    assert mailer["SENDER_DOMAIN"] == "example.com"  # !Select [1, !Split ["@", EmailFrom]]
    assert mailer["DEAD_LETTER_QUEUE_NAME"] == "stateless-auth-local-dead-letters"
    assert mailer["JOB_QUEUE_ARN"] == "arn:aws:sqs:us-east-1:123456789012:JobQueue"
    assert mailer["JOB_QUEUE_URL"] == "https://sqs.us-east-1.amazonaws.com/123456789012/JobQueue"


def test_a_disabled_mapping_loads_no_function_for_it() -> None:
    app = serve(changed("Enabled: true", "Enabled: false"))
    assert [mapping.enabled for mapping in app.mappings] == [False]
    assert "ToyMailerFunction" not in app.functions


def test_select_picks_from_a_list_and_refuses_an_index_outside_it(
    mail_template: dict[str, Any],
) -> None:
    resolver = Resolver(mail_template, parameter_values=LOCAL)
    assert resolver.resolve({"Fn::Select": ["1", ["a", {"Ref": "AWS::Region"}]]}) == "us-east-1"
    with pytest.raises(TemplateError, match="!Select index '2' is not in a list of 2"):
        resolver.resolve({"Fn::Select": [2, ["a", "b"]]})


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "VisibilityTimeout: 1",
            "VisibilityTimeout: 1\n      FifoQueue: true",
            "JobQueue.FifoQueue is not implemented",
        ),
        (
            "BatchSize: 10",
            "BatchSize: 10\n      FilterCriteria: {Filters: []}",
            "ToyMailerEventSource.FilterCriteria is not implemented",
        ),
        (
            "BatchSize: 10",
            "BatchSize: 11",
            "a BatchSize over 10 needs MaximumBatchingWindowInSeconds of 1 or more",
        ),
        ("BatchSize: 10", "BatchSize: 0", "ToyMailerEventSource.BatchSize '0' is not an integer"),
        (
            "FunctionResponseTypes: [ReportBatchItemFailures]",
            "FunctionResponseTypes: [Other]",
            "ToyMailerEventSource.FunctionResponseTypes ['Other'] is not implemented",
        ),
        (
            "EventSourceArn: !GetAtt JobQueue.Arn",
            "EventSourceArn: !Ref JobQueue",
            "ToyMailerEventSource.EventSourceArn must be !GetAtt <queue>.Arn",
        ),
        (
            "EventSourceArn: !GetAtt JobQueue.Arn",
            "EventSourceArn: arn:aws:kinesis:us-east-1:123456789012:stream/s",
            "ToyMailerEventSource.EventSourceArn must be !GetAtt <queue>.Arn",
        ),
        (
            "FunctionName: !Ref ToyMailerFunction",
            "FunctionName: !Ref JobQueue",
            "ToyMailerEventSource.FunctionName JobQueue is not an AWS::Serverless::Function",
        ),
        (
            "JOB_QUEUE_ARN: !GetAtt JobQueue.Arn",
            "JOB_QUEUE_ARN: !GetAtt JobQueue.Owner",
            "!GetAtt JobQueue.Owner: a queue has Arn, QueueName, QueueUrl",
        ),
        (
            "      Events:\n        Enqueue:",
            "      Events:\n        Jobs:\n          Type: SQS\n"
            "          Properties: {Queue: !GetAtt JobQueue.Arn}\n        Enqueue:",
            "EnqueueFunction.Events.Jobs.Properties.Queue is not implemented",  # SAM's SQS event
        ),
    ],
)
def test_what_the_local_api_does_not_implement_stops_it(old: str, new: str, message: str) -> None:
    with pytest.raises(TemplateError) as raised:
        serve(changed(old, new))
    assert message in str(raised.value)


def test_a_parameter_without_default_or_value_is_named(mail_template: dict[str, Any]) -> None:
    resolver = Resolver(mail_template, parameter_values={"EmailFrom": "a@example.com"})
    assert resolver.missing_parameters() == ["AppUrl"]
    with pytest.raises(TemplateError, match="parameter AppUrl has no Default"):
        build_app_spec(mail_template, FIXTURES, resolver)


def test_queues_that_refer_to_each_other_are_refused(
    moto_session: boto3.session.Session,
) -> None:
    template = changed(
        "MessageRetentionPeriod: 1209600",
        "MessageRetentionPeriod: 1209600\n      RedrivePolicy:\n"
        "        deadLetterTargetArn: !GetAtt JobQueue.Arn\n        maxReceiveCount: 1",
    )
    with pytest.raises(TemplateError, match="refer to each other in a cycle"):
        create_queues_from_template(template, moto_session.client("sqs"))


# -- the event and the batch answer ------------------------------------------------------


def test_a_record_is_what_lambda_builds_from_the_message() -> None:
    body = '{"to": "ann@example.com"}'
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": body,
        "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's checksum
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
        "MessageAttributes": {
            "kind": {"DataType": "String", "StringValue": "toy"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
        "MD5OfMessageAttributes": "abc",
    }
    record = sqs_record(message, "arn:aws:sqs:eu-west-1:123456789012:q", "eu-west-1")
    assert record == {
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
        "messageAttributes": {
            "kind": {
                "stringValue": "toy",
                "binaryValue": None,
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            },
            "blob": {
                "stringValue": None,
                "binaryValue": "AAE=",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            },
        },
        "md5OfBody": message["MD5OfBody"],
        "md5OfMessageAttributes": "abc",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:q",
        "awsRegion": "eu-west-1",
    }


@pytest.mark.parametrize(
    ("result", "failed", "whole"),
    [
        (None, set(), False),
        ({}, set(), False),
        ({"batchItemFailures": []}, set(), False),
        ("anything", set(), False),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}, False),
        ({"batchItemFailures": [{"itemIdentifier": "zz"}]}, {"a", "b", "c"}, True),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b", "c"}, True),
        ({"batchItemFailures": [{}]}, {"a", "b", "c"}, True),
        ({"batchItemFailures": "b"}, {"a", "b", "c"}, True),
    ],
)
def test_batch_item_failures_are_read_as_lambda_reads_them(
    result: Any, failed: set[str], whole: bool
) -> None:
    ids, why = failed_message_ids(result, ["a", "b", "c"])
    assert ids == failed
    assert (why is not None) is whole
