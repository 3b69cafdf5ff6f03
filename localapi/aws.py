"""The embedded AWS: moto with one lock, and the template's tables, secrets and parameters.

``create_tables_from_template`` and ``install_moto_lock`` are also meant for the project's
own moto tests, so that tests and the local API build their tables from the same
declarations in ``template.yaml`` and keep DynamoDB's per-item atomicity.

Only tables, secrets and SSM parameters are created. Everything else the template declares
for AWS alone is left out: IAM roles and policies, secret resource policies, KMS keys and
aliases, log groups. moto enforces no IAM or key policy and encrypts nothing, so emulating
them would prove nothing; the template tests hold those rules instead. A secret's
``KmsKeyId`` is dropped for the same reason (the secret is created with moto's default).

A secret's ``SecretString`` is resolved like any property, so a value that CloudFormation
computes (the issuer secret's: ``JwtIssuer``, or the API's URL with the local API id) is
created resolved.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Mapping
from typing import Any

from localapi.template import Resolver, TemplateError, cfn_string

TABLE_TYPES = ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")
SECRET_TYPE = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type
PARAMETER_TYPE = "AWS::SSM::Parameter"
_IGNORED_SECRET_PROPERTIES = frozenset({"KmsKeyId", "ReplicaRegions"})

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


def _enabled_resources(
    template: Mapping[str, Any],
    types: tuple[str, ...],
    resolver: Resolver,
    *,
    ignored_properties: frozenset[str] = frozenset(),
) -> list[tuple[str, dict[str, Any]]]:
    """The resources of ``types`` whose condition holds, with resolved properties.

    ``ignored_properties`` are dropped before resolving, so that what they refer to (a KMS
    key the local API does not create, say) never needs resolving.
    """
    found: list[tuple[str, dict[str, Any]]] = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if (resource or {}).get("Type") not in types:
            continue
        if not resolver.resource_enabled(logical_id):
            continue
        declared = resource.get("Properties") or {}
        kept = {key: value for key, value in declared.items() if key not in ignored_properties}
        properties = resolver.resolve(kept)
        found.append((logical_id, {"Type": resource["Type"], "Properties": properties}))
    return found


def _throughput(raw: Any) -> dict[str, int]:
    return {
        "ReadCapacityUnits": int(cfn_string(raw["ReadCapacityUnits"])),
        "WriteCapacityUnits": int(cfn_string(raw["WriteCapacityUnits"])),
    }


def _tags(raw: Any) -> list[dict[str, str]]:
    if isinstance(raw, dict):
        return [{"Key": str(k), "Value": cfn_string(v)} for k, v in raw.items()]
    return [{"Key": str(t["Key"]), "Value": cfn_string(t["Value"])} for t in raw or []]


def table_create_arguments(logical_id: str, resource: Mapping[str, Any]) -> dict[str, Any]:
    """The CreateTable arguments for a resolved table declaration.

    Properties that do not change how the table behaves for a test (point-in-time
    recovery, deletion protection, encryption, contributor insights, Kinesis) are dropped.
    """
    properties: Mapping[str, Any] = resource.get("Properties") or {}
    name = cfn_string(properties.get("TableName") or logical_id)
    if resource.get("Type") == "AWS::Serverless::SimpleTable":
        key = properties.get("PrimaryKey") or {"Name": "id", "Type": "String"}
        key_type = {"String": "S", "Number": "N", "Binary": "B"}[cfn_string(key["Type"])]
        arguments: dict[str, Any] = {
            "TableName": name,
            "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": key_type}],
        }
        if properties.get("ProvisionedThroughput"):
            arguments["BillingMode"] = "PROVISIONED"
            arguments["ProvisionedThroughput"] = _throughput(properties["ProvisionedThroughput"])
        else:
            arguments["BillingMode"] = "PAY_PER_REQUEST"
        if properties.get("Tags"):
            arguments["Tags"] = _tags(properties["Tags"])
        return arguments

    billing = cfn_string(properties.get("BillingMode") or "PROVISIONED")
    arguments = {
        "TableName": name,
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        if not properties.get("ProvisionedThroughput"):
            raise TemplateError(f"{logical_id}: PROVISIONED tables need ProvisionedThroughput")
        arguments["ProvisionedThroughput"] = _throughput(properties["ProvisionedThroughput"])
    indexes = []
    for index in properties.get("GlobalSecondaryIndexes") or []:
        gsi: dict[str, Any] = {
            "IndexName": index["IndexName"],
            "KeySchema": index["KeySchema"],
            "Projection": index["Projection"],
        }
        if billing == "PROVISIONED" and index.get("ProvisionedThroughput"):
            gsi["ProvisionedThroughput"] = _throughput(index["ProvisionedThroughput"])
        indexes.append(gsi)
    if indexes:
        arguments["GlobalSecondaryIndexes"] = indexes
    local_indexes = [
        {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
        for i in properties.get("LocalSecondaryIndexes") or []
    ]
    if local_indexes:
        arguments["LocalSecondaryIndexes"] = local_indexes
    stream = properties.get("StreamSpecification")
    if stream and stream.get("StreamViewType"):
        arguments["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    if properties.get("TableClass"):
        arguments["TableClass"] = properties["TableClass"]
    if properties.get("Tags"):
        arguments["Tags"] = _tags(properties["Tags"])
    return arguments


def create_tables_from_template(
    template: Mapping[str, Any], dynamodb_client: Any, *, resolver: Resolver | None = None
) -> dict[str, str]:
    """Create every DynamoDB table the template declares; return ``{logical_id: table_name}``.

    Tables are named by their ``TableName`` or, as here nothing else names them, by their
    logical id. ``TimeToLiveSpecification`` is applied with UpdateTimeToLive.
    ``template`` is the parsed template (``localapi.template.load_template``); the client
    is any DynamoDB client, normally one created inside ``moto.mock_aws()``.
    """
    resolver = resolver or Resolver(template)
    created: dict[str, str] = {}
    for logical_id, resource in _enabled_resources(template, TABLE_TYPES, resolver):
        arguments = table_create_arguments(logical_id, resource)
        dynamodb_client.create_table(**arguments)
        name = str(arguments["TableName"])
        ttl = (resource.get("Properties") or {}).get("TimeToLiveSpecification")
        if ttl and cfn_string(ttl.get("Enabled", False)) == "true":
            dynamodb_client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        created[logical_id] = name
        arn = f"arn:aws:dynamodb:{resolver.region}:{resolver.account_id}:table/{name}"
        resolver.physical.setdefault(logical_id, {}).update({"Ref": name, "Arn": arn})
    return created


def _generated_secret(secrets_client: Any, config: Mapping[str, Any]) -> str:
    options: dict[str, Any] = {}
    for key in (
        "PasswordLength",
        "ExcludeCharacters",
        "ExcludeLowercase",
        "ExcludeNumbers",
        "ExcludePunctuation",
        "ExcludeUppercase",
        "IncludeSpace",
        "RequireEachIncludedType",
    ):
        if key in config:
            value = config[key]
            if key == "PasswordLength":
                options[key] = int(cfn_string(value))
            elif key == "ExcludeCharacters":
                options[key] = cfn_string(value)
            else:
                options[key] = cfn_string(value) == "true"
    password = str(secrets_client.get_random_password(**options)["RandomPassword"])
    template = config.get("SecretStringTemplate")
    string_key = config.get("GenerateStringKey")
    if template is not None and string_key is not None:
        document = json.loads(cfn_string(template))
        document[cfn_string(string_key)] = password
        return json.dumps(document)
    return password


def create_secrets_from_template(
    template: Mapping[str, Any], secrets_client: Any, *, resolver: Resolver | None = None
) -> dict[str, str]:
    """Create every Secrets Manager secret of the template; return ``{logical_id: arn}``.

    The secret is named by its ``Name`` or its logical id and gets its ``SecretString``,
    a value generated per ``GenerateSecretString``, or no value at all. ``KmsKeyId`` is
    ignored (see the module's docstring), as are ``ReplicaRegions``.
    """
    resolver = resolver or Resolver(template)
    created: dict[str, str] = {}
    for logical_id, resource in _enabled_resources(
        template, (SECRET_TYPE,), resolver, ignored_properties=_IGNORED_SECRET_PROPERTIES
    ):
        properties = resource["Properties"]
        arguments: dict[str, Any] = {"Name": cfn_string(properties.get("Name") or logical_id)}
        if properties.get("Description"):
            arguments["Description"] = cfn_string(properties["Description"])
        if properties.get("SecretString") is not None:
            arguments["SecretString"] = cfn_string(properties["SecretString"])
        elif properties.get("GenerateSecretString") is not None:
            arguments["SecretString"] = _generated_secret(
                secrets_client, properties["GenerateSecretString"]
            )
        if properties.get("Tags"):
            arguments["Tags"] = _tags(properties["Tags"])
        arn = str(secrets_client.create_secret(**arguments)["ARN"])
        created[logical_id] = arn
        resolver.physical.setdefault(logical_id, {}).update({"Ref": arn, "Id": arn})
    return created


def create_parameters_from_template(
    template: Mapping[str, Any], ssm_client: Any, *, resolver: Resolver | None = None
) -> dict[str, str]:
    """Create every SSM parameter of the template; return ``{logical_id: parameter_name}``."""
    resolver = resolver or Resolver(template)
    created: dict[str, str] = {}
    for logical_id, resource in _enabled_resources(template, (PARAMETER_TYPE,), resolver):
        properties = resource["Properties"]
        name = cfn_string(properties.get("Name") or logical_id)
        arguments: dict[str, Any] = {
            "Name": name,
            "Value": cfn_string(properties.get("Value", "")),
            "Type": cfn_string(properties.get("Type", "String")),
        }
        for key in ("Description", "AllowedPattern", "Tier", "DataType"):
            if properties.get(key):
                arguments[key] = cfn_string(properties[key])
        if properties.get("Tags"):
            arguments["Tags"] = _tags(properties["Tags"])
        ssm_client.put_parameter(**arguments)
        created[logical_id] = name
        resolver.physical.setdefault(logical_id, {}).update(
            {"Ref": name, "Type": arguments["Type"], "Value": arguments["Value"]}
        )
    return created
