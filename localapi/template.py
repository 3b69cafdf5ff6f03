"""Read a SAM template and resolve the intrinsic functions ``template.yaml`` uses, no more.

``check_intrinsics`` refuses, at start-up, any other intrinsic, condition function or
parameter type, naming where it is used: the local API follows ``template.yaml``, not
CloudFormation, and a template it cannot follow must stop it rather than be served
differently from AWS. (SAM CLI's resolver is not reused: it evaluates both branches of
Fn::If eagerly and fails on AWS::NoValue inside one.)
"""

from __future__ import annotations

import importlib
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

DEFAULT_STACK_NAME: Final = "stateless-auth-local"
DEFAULT_REGION: Final = "us-east-1"
DEFAULT_ACCOUNT_ID: Final = "123456789012"
# The id the template's HTTP API gets locally (the apiId of the local API's events).
LOCAL_API_ID: Final = "localapi"

INTRINSICS: Final = frozenset(
    {
        *("Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::Split", "Fn::Select", "Fn::If"),
        "Fn::FindInMap",
        # Only the exports the Resolver is given (the main stack's, for an example stack).
        "Fn::ImportValue",
    }
)
CONDITION_FUNCTIONS: Final = frozenset({"Ref", "Fn::Equals", "Fn::Not", "Fn::And"})
PARAMETER_TYPES: Final = frozenset({"String", "Number"})
QUEUE: Final = "AWS::SQS::Queue"


class TemplateError(Exception):
    """The template uses something the local API does not implement, or is wrong."""


class _NoValue:
    """The value of ``!Ref AWS::NoValue``: the property is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()


_yaml: Any = importlib.import_module("yaml")  # PyYAML ships no type hints


def _short_form(loader: Any, suffix: str, node: Any) -> dict[str, Any]:
    """CloudFormation's short forms: ``!Ref X``, ``!GetAtt X.Arn``, ``!If [...]``."""
    value: Any
    if isinstance(node, _yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, _yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_LOADER: Final[Any] = type("CloudFormationLoader", (_yaml.SafeLoader,), {})
_LOADER.add_multi_constructor("!", _short_form)


def parse_template(text: str) -> dict[str, Any]:
    """Parse template text, turning short-form intrinsics into their long form."""
    data = _yaml.load(text, Loader=_LOADER)
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError("the template has no Resources section")
    return data


def load_template(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and parse a template file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read template {os.fspath(path)!r}: {exc}") from exc
    return parse_template(text)


def cfn_string(value: Any) -> str:
    """A scalar as the string CloudFormation would pass (``true``, ``900``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"expected a string, got {value!r}")


def _intrinsic_calls(value: Any, where: str, plain: frozenset[str]) -> Iterator[tuple[str, str]]:
    """``(where, name)`` of every call in ``value``: ``Fn::*`` and the ``plain`` names."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _intrinsic_calls(item, f"{where}[{index}]", plain)
    elif isinstance(value, dict):
        if len(value) == 1:
            (key, _), *_ = value.items()
            if key in plain or str(key).startswith("Fn::"):
                yield where, str(key)
        for key, item in value.items():
            yield from _intrinsic_calls(item, f"{where}.{key}", plain)


def check_intrinsics(template: Mapping[str, Any]) -> None:
    """Refuse any intrinsic, condition function or parameter type the Resolver lacks."""
    for name, declaration in (template.get("Parameters") or {}).items():
        ptype = (declaration or {}).get("Type")
        if ptype not in PARAMETER_TYPES:
            raise TemplateError(
                f"parameter {name}: Type {ptype} is not implemented by the local API "
                f"(only {', '.join(sorted(PARAMETER_TYPES))})"
            )
    sections = {"Globals": INTRINSICS, "Resources": INTRINSICS, "Outputs": INTRINSICS}
    for section, allowed in {**sections, "Conditions": CONDITION_FUNCTIONS}.items():
        for name, value in (template.get(section) or {}).items():
            where = f"{section}.{name}"
            if section == "Resources":  # named as the resource's properties are: X.Property
                value, where = (value or {}).get("Properties"), name
            plain = frozenset({"Ref", "Condition"} if section == "Conditions" else {"Ref"})
            for at, function in _intrinsic_calls(value, where, plain):
                if function not in allowed:
                    raise TemplateError(
                        f"{at} uses {function}, which the local API does not implement "
                        f"(it knows {', '.join(sorted(allowed))} there)"
                    )


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
# !GetAtt X.Arn: the ARN AWS would give X (``{}`` is X's Ref), made up locally.
_ARN_SERVICES: Final = {
    "AWS::KMS::Key": ("kms", "key/{}"),
    "AWS::Logs::LogGroup": ("logs", "log-group:{}:*"),
    "AWS::Serverless::Function": ("lambda", "function:{}"),
    "AWS::Lambda::Function": ("lambda", "function:{}"),
    "AWS::DynamoDB::Table": ("dynamodb", "table/{}"),
}
# The property that names a resource, which is then its Ref.
_NAME_PROPERTIES: Final = {
    "AWS::SSM::Parameter": "Name",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::KMS::Alias": "AliasName",
}


class Resolver:
    """Resolve the template's intrinsics against local physical ids.

    ``physical`` maps a logical id to its attributes, e.g.
    ``{"UsersTable": {"Ref": "UsersTable", "Arn": "arn:aws:dynamodb:..."}}``; resources not
    listed get a plausible default (their name or logical id for Ref, a made-up ARN).
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        physical: Mapping[str, Mapping[str, Any]] | None = None,
        parameter_values: Mapping[str, str] | None = None,
        imports: Mapping[str, Any] | None = None,
    ) -> None:
        self.imports = dict(imports or {})
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.physical = {key: dict(value) for key, value in (physical or {}).items()}
        self._parameter_values = dict(parameter_values or {})
        self._parameters: Mapping[str, Any] = template.get("Parameters") or {}
        self._resources: Mapping[str, Any] = template.get("Resources") or {}
        self._conditions: Mapping[str, Any] = template.get("Conditions") or {}
        self._mappings: Mapping[str, Any] = template.get("Mappings") or {}
        self._functions = {
            "Ref": self._fn_ref,
            "Fn::GetAtt": self._fn_get_att,
            "Fn::Sub": self._fn_sub,
            "Fn::Join": self._fn_join,
            "Fn::Split": self._fn_split,
            "Fn::Select": self._fn_select,
            "Fn::If": self._fn_if,
            "Fn::Equals": self._fn_equals,
            "Fn::Not": self._fn_not,
            "Fn::FindInMap": self._fn_find_in_map,
            "Fn::ImportValue": self._fn_import_value,
            "Fn::And": self._fn_and,
        }

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic in ``value``; AWS::NoValue entries are dropped."""
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not NO_VALUE]
        if isinstance(value, dict):
            if len(value) == 1:
                (key, arg), *_ = value.items()
                if key in self._functions:
                    return self._functions[key](arg)
                if str(key).startswith("Fn::"):
                    raise TemplateError(f"{key} is not implemented by the local API")
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        return value

    def resolve_string(self, value: Any) -> str:
        return cfn_string(self.resolve(value))

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            raise TemplateError(f"unknown condition {name!r}")
        return self._boolean(self._conditions[name], f"condition {name}")

    def ref(self, name: str) -> Any:
        """The value of ``{"Ref": name}``."""
        pseudo = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self._parameters:
            return self._parameter(name)
        if "Ref" in self.physical.get(name, {}):
            return self.physical[name]["Ref"]
        if name not in self._resources:
            raise TemplateError(f"!Ref {name}: no such parameter or resource")
        resource = self._resources[name] or {}
        rtype = resource.get("Type", "")
        own_name = (resource.get("Properties") or {}).get(_NAME_PROPERTIES.get(rtype, ""))
        if own_name is not None:
            return self.resolve_string(own_name)
        if rtype in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return f"{self.stack_name}-{name}"
        if rtype == "AWS::SecretsManager::Secret":
            return f"arn:aws:secretsmanager:{self.region}:{self.account_id}:secret:{name}-AbCdEf"
        if rtype in ("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api"):
            return LOCAL_API_ID  # as in https://<id>.execute-api.<region>.amazonaws.com
        if rtype == "AWS::KMS::Key":  # a key id is a UUID
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.stack_name}/{name}"))
        if rtype == QUEUE:  # a queue's Ref is its URL
            return self._queue_attributes(name)["QueueUrl"]
        return name

    def get_att(self, name: str, attribute: str) -> Any:
        """The value of ``{"Fn::GetAtt": [name, attribute]}``: only ``Arn`` is known."""
        if attribute in self.physical.get(name, {}):
            return self.physical[name][attribute]
        if (self._resources.get(name) or {}).get("Type") == QUEUE:
            attributes = self._queue_attributes(name)
            if attribute not in attributes:
                raise TemplateError(
                    f"!GetAtt {name}.{attribute}: a queue has {', '.join(sorted(attributes))}"
                )
            return attributes[attribute]
        if attribute != "Arn":
            raise TemplateError(f"!GetAtt {name}.{attribute}: only .Arn is implemented")
        if name not in self._resources:
            raise TemplateError(f"!GetAtt {name}.Arn: no such resource")
        rtype = (self._resources[name] or {}).get("Type", "")
        ref = self.ref(name)
        if rtype == "AWS::IAM::Role":
            return f"arn:aws:iam::{self.account_id}:role/{ref}"
        if rtype not in _ARN_SERVICES:
            raise TemplateError(f"!GetAtt {name}.Arn: not implemented for {rtype}")
        service, resource = _ARN_SERVICES[rtype]
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource.format(ref)}"

    def _queue_attributes(self, name: str) -> dict[str, str]:
        """A queue not created (yet): named by its QueueName or its logical id."""
        own = ((self._resources[name] or {}).get("Properties") or {}).get("QueueName")
        queue_name = self.resolve_string(own) if own is not None else name
        return {
            "QueueName": queue_name,
            "QueueUrl": f"https://sqs.{self.region}.amazonaws.com/{self.account_id}/{queue_name}",
            "Arn": f"arn:aws:sqs:{self.region}:{self.account_id}:{queue_name}",
        }

    def missing_parameters(self) -> list[str]:
        """The parameters with neither a Default nor a given value (a deploy needs them)."""
        return [
            name
            for name, declaration in self._parameters.items()
            if name not in self._parameter_values and "Default" not in (declaration or {})
        ]

    def _parameter(self, name: str) -> str:
        declaration = self._parameters[name] or {}
        if name in self._parameter_values:
            return cfn_string(self._parameter_values[name])
        if "Default" not in declaration:
            raise TemplateError(f"parameter {name} has no Default and no value was given")
        return cfn_string(declaration["Default"])

    def _boolean(self, value: Any, where: str) -> bool:
        result = self.resolve(value)
        if isinstance(result, bool):
            return result
        if isinstance(result, str) and result.lower() in ("true", "false"):
            return result.lower() == "true"
        raise TemplateError(f"{where} does not evaluate to a boolean: {result!r}")

    def _fn_ref(self, arg: Any) -> Any:
        if not isinstance(arg, str):
            raise TemplateError(f"!Ref needs a name, got {arg!r}")
        return self.ref(arg)

    def _fn_get_att(self, arg: Any) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        if not (isinstance(arg, list) and len(arg) == 2 and all(isinstance(a, str) for a in arg)):
            raise TemplateError(f"!GetAtt needs [resource, attribute], got {arg!r}")
        return self.get_att(arg[0], arg[1])

    def _fn_sub(self, arg: Any) -> Any:
        if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], dict):
            text, variables = arg[0], self.resolve(arg[1])
        else:
            text, variables = arg, {}
        if not isinstance(text, str):
            raise TemplateError(f"!Sub needs a string or [string, variables], got {arg!r}")

        def substitute(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return cfn_string(variables[expression])
            if "." in expression and not expression.startswith("AWS::"):
                return cfn_string(self.get_att(*expression.split(".", 1)))
            return cfn_string(self.ref(expression))

        return _SUB_VARIABLE.sub(substitute, text)

    def _fn_join(self, arg: Any) -> Any:
        delimiter, items = self._pair(arg, "!Join")
        items = self.resolve(items)
        if not isinstance(items, list):
            raise TemplateError(f"!Join needs a list, got {items!r}")
        return self.resolve_string(delimiter).join(cfn_string(item) for item in items)

    def _fn_split(self, arg: Any) -> Any:
        delimiter, text = self._pair(arg, "!Split")
        return self.resolve_string(text).split(self.resolve_string(delimiter))

    def _fn_select(self, arg: Any) -> Any:
        index, items = self._pair(arg, "!Select")
        position, items = self.resolve_string(index), self.resolve(items)
        if not isinstance(items, list):
            raise TemplateError(f"!Select needs a list, got {items!r}")
        if not position.isdigit() or int(position) >= len(items):
            raise TemplateError(f"!Select index {position!r} is not in a list of {len(items)}")
        return items[int(position)]

    def _fn_if(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
            raise TemplateError(f"!If needs [condition, then, else], got {arg!r}")
        return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])

    def _fn_equals(self, arg: Any) -> Any:
        left, right = self._pair(arg, "!Equals")
        return self.resolve_string(left) == self.resolve_string(right)

    def _fn_not(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 1):
            raise TemplateError(f"!Not needs one condition, got {arg!r}")
        return not self._boolean(arg[0], "!Not")

    def _fn_import_value(self, arg: Any) -> Any:
        name = self.resolve_string(arg)
        if name not in self.imports:
            known = ", ".join(sorted(self.imports)) or "none"
            raise TemplateError(
                f"!ImportValue {name!r}: the local API knows only the main stack's exports "
                f"({known})"
            )
        return self.imports[name]

    def _fn_and(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and 2 <= len(arg) <= 10):
            raise TemplateError(f"!And needs 2 to 10 conditions, got {arg!r}")
        return all(self._boolean(item, "!And") for item in arg)

    def _fn_find_in_map(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3):
            raise TemplateError(f"!FindInMap needs [map, key, key], got {arg!r}")
        name, first, second = (self.resolve_string(item) for item in arg)
        try:
            return self._mappings[name][first][second]
        except (KeyError, TypeError) as exc:
            raise TemplateError(f"!FindInMap {name}/{first}/{second} not found") from exc

    @staticmethod
    def _pair(arg: Any, function: str) -> tuple[Any, Any]:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"{function} needs two arguments, got {arg!r}")
        return arg[0], arg[1]
