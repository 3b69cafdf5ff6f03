"""The embedded AWS: moto behind one lock, and the template's tables, secrets, parameters.

The project's moto tests use ``create_tables_from_template`` and ``install_moto_lock``
too, so that they and the local API build their tables from the declarations in
``template.yaml`` and keep DynamoDB's per-item atomicity.

What the template declares for AWS alone (IAM, secret resource policies, KMS keys, log
groups) is not created: moto enforces no IAM or key policy and encrypts nothing, so
emulating them would prove nothing; the template tests hold those rules instead. For the
same reason a secret's ``KmsKeyId`` and a queue's encryption settings are dropped. A secret's ``SecretString`` is resolved
like any property, so the issuer secret's computed value (``JwtIssuer``, or the API's URL
with the local API id) is created resolved.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from localapi.model import PARAMETER, SECRET, TABLE, check_template
from localapi.template import QUEUE, Resolver, TemplateError, cfn_string

FAKE_CREDENTIALS: Mapping[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}

_MOTO_LOCK = threading.RLock()
_INSTALL_LOCK = threading.Lock()


def install_moto_lock() -> threading.RLock:
    """Serialise every request into moto (in this process) with one lock.

    moto checks a ConditionExpression and then writes with no lock in between, so two
    threads can both pass the same condition. DynamoDB is atomic per item; holding one
    lock around each moto request restores that guarantee. Idempotent; returns the lock.
    """
    from moto.core.botocore_stubber import BotocoreStubber

    with _INSTALL_LOCK:
        original = BotocoreStubber.__call__
        if getattr(original, "_localapi_locked", False):
            return _MOTO_LOCK

        @functools.wraps(original)
        def locked_call(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
            with _MOTO_LOCK:
                return original(self, event_name, request, **kwargs)

        locked_call._localapi_locked = True  # type: ignore[attr-defined]
        BotocoreStubber.__call__ = locked_call  # type: ignore[method-assign]
    return _MOTO_LOCK


def _resources(
    template: Mapping[str, Any], rtype: str, resolver: Resolver, *, drop: frozenset[str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(logical_id, resolved properties)`` of the resources of ``rtype``.

    ``drop`` is removed before resolving, so that what it refers to (a KMS key the local
    API does not create) never needs resolving.
    """
    check_template(template)
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") == rtype:
            declared = resource.get("Properties") or {}
            yield logical_id, resolver.resolve({k: v for k, v in declared.items() if k not in drop})


def create_tables_from_template(
    template: Mapping[str, Any], dynamodb_client: Any, *, resolver: Resolver | None = None
) -> dict[str, str]:
    """Create every DynamoDB table the template declares; return ``{logical_id: name}``.

    A table is named by its logical id (nothing else names it locally);
    ``TimeToLiveSpecification`` is applied with UpdateTimeToLive; what does not change
    how a table behaves locally (point-in-time recovery, deletion protection, encryption)
    is left out. The client is any DynamoDB client, normally one inside ``mock_aws()``.
    """
    resolver = resolver or Resolver(template)
    created: dict[str, str] = {}
    for name, properties in _resources(template, TABLE, resolver, drop=frozenset()):
        billing = cfn_string(properties.get("BillingMode", "PROVISIONED"))
        if billing != "PAY_PER_REQUEST":
            raise TemplateError(f"{name}.BillingMode {billing} is not implemented locally")
        dynamodb_client.create_table(
            TableName=name,
            KeySchema=properties["KeySchema"],
            AttributeDefinitions=properties["AttributeDefinitions"],
            BillingMode=billing,
        )
        ttl = properties.get("TimeToLiveSpecification") or {}
        if cfn_string(ttl.get("Enabled", False)) == "true":
            dynamodb_client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        created[name] = name
        arn = f"arn:aws:dynamodb:{resolver.region}:{resolver.account_id}:table/{name}"
        resolver.physical.setdefault(name, {}).update({"Ref": name, "Arn": arn})
    return created


def create_secrets_from_template(
    template: Mapping[str, Any], secrets_client: Any, *, resolver: Resolver | None = None
) -> dict[str, str]:
    """Create every Secrets Manager secret of the template; return ``{logical_id: arn}``.

    A secret is named by its ``Name`` or its logical id and gets its ``SecretString``, or
    no value. ``KmsKeyId`` is ignored (see the module's docstring).
    """
    resolver = resolver or Resolver(template)
    created: dict[str, str] = {}
    for logical_id, properties in _resources(
        template, SECRET, resolver, drop=frozenset({"KmsKeyId"})
    ):
        arguments = {"Name": cfn_string(properties.get("Name") or logical_id)}
        for key in ("Description", "SecretString"):
            if properties.get(key) is not None:
                arguments[key] = cfn_string(properties[key])
        arn = str(secrets_client.create_secret(**arguments)["ARN"])
        created[logical_id] = arn
        resolver.physical.setdefault(logical_id, {}).update({"Ref": arn})
    return created


def create_parameters_from_template(
    template: Mapping[str, Any], ssm_client: Any, *, resolver: Resolver | None = None
) -> dict[str, str]:
    """Create every SSM parameter of the template; return ``{logical_id: name}``."""
    resolver = resolver or Resolver(template)
    created: dict[str, str] = {}
    for logical_id, properties in _resources(template, PARAMETER, resolver, drop=frozenset()):
        name = cfn_string(properties.get("Name") or logical_id)
        ssm_client.put_parameter(
            Name=name,
            Value=cfn_string(properties.get("Value", "")),
            Type=cfn_string(properties.get("Type", "String")),
        )
        created[logical_id] = name
        resolver.physical.setdefault(logical_id, {}).update({"Ref": name})
    return created


# A queue's properties that are its attributes in the SQS API.
_QUEUE_ATTRIBUTES = ("VisibilityTimeout", "DelaySeconds", "MessageRetentionPeriod")
_QUEUE_DROPPED = frozenset(
    {"SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds"}
)


def _queues_referenced(value: Any, queues: Mapping[str, Any]) -> set[str]:
    """The queues of the template that ``value`` refers to (!Ref, !GetAtt, ${X.Arn})."""
    if isinstance(value, list):
        return set().union(*(_queues_referenced(item, queues) for item in value))
    if isinstance(value, dict):
        found = set().union(*(_queues_referenced(item, queues) for item in value.values()))
        target = value.get("Ref") or value.get("Fn::GetAtt")
        if isinstance(target, str):
            target = target.split(".", 1)[0]
        elif isinstance(target, list) and target:
            target = target[0]
        return found | ({target} if isinstance(target, str) and target in queues else set())
    if isinstance(value, str):
        return {name for name in queues if f"${{{name}" in value}
    return set()


def _queue_order(template: Mapping[str, Any]) -> list[str]:
    """The template's queues, each after the queues it refers to (a dead-letter queue first)."""
    queues = {
        logical_id: resource.get("Properties") or {}
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == QUEUE
    }
    needs = {
        logical_id: _queues_referenced(
            {k: v for k, v in properties.items() if k not in _QUEUE_DROPPED}, queues
        )
        - {logical_id}
        for logical_id, properties in queues.items()
    }
    order: list[str] = []
    while needs:
        ready = [logical_id for logical_id, wanted in needs.items() if wanted <= set(order)]
        if not ready:
            raise TemplateError(f"the queues {sorted(needs)} refer to each other in a cycle")
        for logical_id in ready:
            order.append(logical_id)
            del needs[logical_id]
    return order


def create_queues_from_template(
    template: Mapping[str, Any], sqs_client: Any, *, resolver: Resolver | None = None
) -> dict[str, str]:
    """Create every SQS queue of the template; return ``{logical_id: queue URL}``.

    A queue is named by its ``QueueName`` or its logical id and gets its
    ``VisibilityTimeout``, ``DelaySeconds``, ``MessageRetentionPeriod`` and
    ``RedrivePolicy`` (its ``deadLetterTargetArn`` resolved to the dead-letter queue's
    ARN in moto, which is created first; moto moves a message there after
    ``maxReceiveCount`` receives). Encryption (``SqsManagedSseEnabled``,
    ``KmsMasterKeyId``) has no local effect. The resolver learns each queue's URL (its
    Ref), ARN and name (its GetAtt attributes).
    """
    resolver = resolver or Resolver(template)
    check_template(template)
    created: dict[str, str] = {}
    for logical_id in _queue_order(template):
        declared = template["Resources"][logical_id].get("Properties") or {}
        properties = resolver.resolve(
            {k: v for k, v in declared.items() if k not in _QUEUE_DROPPED}
        )
        attributes = {
            key: cfn_string(properties[key]) for key in _QUEUE_ATTRIBUTES if key in properties
        }
        redrive = properties.get("RedrivePolicy")
        if redrive is not None:
            attributes["RedrivePolicy"] = (
                redrive if isinstance(redrive, str) else json.dumps(redrive)
            )
        name = cfn_string(properties.get("QueueName") or logical_id)
        url = str(sqs_client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
        arn = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        created[logical_id] = url
        resolver.physical.setdefault(logical_id, {}).update(
            {"Ref": url, "QueueUrl": url, "Arn": str(arn), "QueueName": name}
        )
    return created


def create_email_identity(sesv2_client: Any, address: str) -> None:
    """The sender's SES identity, so that SES (moto) accepts SendEmail from it, as a
    verified identity in AWS does. Idempotent."""
    with contextlib.suppress(sesv2_client.exceptions.AlreadyExistsException):
        sesv2_client.create_email_identity(EmailIdentity=address)
