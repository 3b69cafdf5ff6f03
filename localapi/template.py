"""Read a SAM template and resolve the CloudFormation intrinsics the local API needs.

The resolver is deliberately small: it covers what a SAM template uses for function
environments and table declarations (Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select,
Fn::Split, Fn::If with Conditions, Fn::Equals, Fn::Not, Fn::And, Fn::Or, Fn::FindInMap,
Fn::Base64, Fn::GetAZs and AWS::NoValue). SAM CLI's resolver evaluates both branches of
Fn::If eagerly and fails on AWS::NoValue inside it, so it is not reused.
"""

from __future__ import annotations

import base64
import importlib
import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from samtranslator.yaml_helper import intrinsics_multi_constructor

DEFAULT_STACK_NAME: Final = "stateless-auth-local"
DEFAULT_REGION: Final = "us-east-1"
DEFAULT_ACCOUNT_ID: Final = "123456789012"
# The id an HTTP API of the template gets locally (the apiId of the local API's events).
LOCAL_API_ID: Final = "localapi"


class TemplateError(Exception):
    """The template cannot be served by the local API."""


class _NoValue:
    """The value of ``!Ref AWS::NoValue``: the property is removed."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()

_yaml: Any = importlib.import_module("yaml")


def _make_loader() -> Any:
    loader: Any = type("CloudFormationLoader", (_yaml.SafeLoader,), {})
    loader.add_multi_constructor("!", intrinsics_multi_constructor)
    return loader


_LOADER: Final = _make_loader()


def parse_template(text: str) -> dict[str, Any]:
    """Parse template text, turning short-form intrinsics (``!Ref X``) into their long form."""
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
    """Turn a scalar into the string CloudFormation would pass (``true``, ``900``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    raise TemplateError(f"expected a string, got {value!r}")


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class Resolver:
    """Resolve intrinsic functions against a template with local physical ids.

    ``physical`` maps a logical id to its attributes, e.g.
    ``{"UsersTable": {"Ref": "UsersTable", "Arn": "arn:aws:dynamodb:..."}}``; resources not
    listed get a plausible default (their logical id for Ref, a made-up ARN for Arn).
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
    ) -> None:
        self.template = template
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.physical: dict[str, dict[str, Any]] = {
            key: dict(value) for key, value in (physical or {}).items()
        }
        self._parameter_values = dict(parameter_values or {})
        self._parameters: Mapping[str, Any] = template.get("Parameters") or {}
        self._resources: Mapping[str, Any] = template.get("Resources") or {}
        self._conditions: Mapping[str, Any] = template.get("Conditions") or {}
        self._mappings: Mapping[str, Any] = template.get("Mappings") or {}
        self._condition_cache: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    # -- public -----------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic in ``value``; AWS::NoValue entries are dropped."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if isinstance(value, dict):
            if len(value) == 1:
                (key, arg), *_ = value.items()
                handler = self._functions().get(key)
                if handler is not None:
                    return handler(arg)
                if isinstance(key, str) and key.startswith("Fn::"):
                    raise TemplateError(f"intrinsic function {key} is not supported locally")
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        return value

    def resolve_string(self, value: Any) -> str:
        """Resolve ``value`` and return it as a CloudFormation string."""
        return cfn_string(self.resolve(value))

    def condition(self, name: str) -> bool:
        """Evaluate a named condition of the template."""
        if name in self._condition_cache:
            return self._condition_cache[name]
        if name not in self._conditions:
            raise TemplateError(f"unknown condition {name!r}")
        if name in self._evaluating:
            raise TemplateError(f"condition {name!r} refers to itself")
        self._evaluating.add(name)
        try:
            result = self._boolean(self._conditions[name], f"condition {name}")
        finally:
            self._evaluating.discard(name)
        self._condition_cache[name] = result
        return result

    def resource_enabled(self, logical_id: str) -> bool:
        """Whether a resource exists, given its ``Condition`` attribute."""
        resource = self._resources.get(logical_id) or {}
        condition = resource.get("Condition")
        return True if condition is None else self.condition(str(condition))

    def ref(self, name: str) -> Any:
        """The value of ``{"Ref": name}``."""
        pseudo = self._pseudo(name)
        if pseudo is not None:
            return pseudo
        if name in self._parameters:
            return self._parameter(name)
        if name in self.physical and "Ref" in self.physical[name]:
            return self.physical[name]["Ref"]
        if name in self._resources:
            return self._default_ref(name)
        raise TemplateError(f"!Ref {name}: no such parameter or resource")

    def get_att(self, name: str, attribute: str) -> Any:
        """The value of ``{"Fn::GetAtt": [name, attribute]}``."""
        if name in self.physical and attribute in self.physical[name]:
            return self.physical[name][attribute]
        resource = self._resources.get(name)
        if resource is None:
            raise TemplateError(f"!GetAtt {name}.{attribute}: no such resource")
        rtype = resource.get("Type", "")
        ref = self.ref(name)
        arn_prefix = f"arn:aws:{{service}}:{self.region}:{self.account_id}"
        if attribute == "Arn":
            if rtype == "AWS::KMS::Key":
                return f"{arn_prefix.format(service='kms')}:key/{ref}"
            if rtype == "AWS::Logs::LogGroup":
                return f"{arn_prefix.format(service='logs')}:log-group:{ref}:*"
            if rtype in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
                return f"{arn_prefix.format(service='lambda')}:function:{ref}"
            if rtype in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
                return f"{arn_prefix.format(service='dynamodb')}:table/{ref}"
            if rtype == "AWS::SSM::Parameter":
                return f"{arn_prefix.format(service='ssm')}:parameter/{str(ref).lstrip('/')}"
            if rtype == "AWS::SecretsManager::Secret":
                return ref
            if rtype == "AWS::IAM::Role":
                return f"arn:aws:iam::{self.account_id}:role/{ref}"
            service = rtype.split("::")[1].lower() if rtype.count("::") >= 2 else "unknown"
            return f"{arn_prefix.format(service=service)}:{ref}"
        if attribute == "StreamArn" and rtype == "AWS::DynamoDB::Table":
            table_arn = f"{arn_prefix.format(service='dynamodb')}:table/{ref}"
            return f"{table_arn}/stream/1970-01-01T00:00:00.000"
        if attribute == "Name":
            return ref
        if attribute in ("Id", "KeyId"):
            return ref
        if rtype == "AWS::SSM::Parameter" and attribute in ("Type", "Value"):
            properties = resource.get("Properties") or {}
            return self.resolve(properties.get(attribute))
        raise TemplateError(f"!GetAtt {name}.{attribute} is not supported locally")

    # -- internals --------------------------------------------------------------------

    def _functions(self) -> dict[str, Any]:
        return {
            "Ref": self._fn_ref,
            "Fn::GetAtt": self._fn_get_att,
            "Fn::Sub": self._fn_sub,
            "Fn::Join": self._fn_join,
            "Fn::Select": self._fn_select,
            "Fn::Split": self._fn_split,
            "Fn::If": self._fn_if,
            "Fn::Equals": self._fn_equals,
            "Fn::Not": self._fn_not,
            "Fn::And": self._fn_and,
            "Fn::Or": self._fn_or,
            "Condition": self._fn_condition,
            "Fn::FindInMap": self._fn_find_in_map,
            "Fn::Base64": self._fn_base64,
            "Fn::GetAZs": self._fn_get_azs,
        }

    def _pseudo(self, name: str) -> Any:
        values: dict[str, Any] = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/"
                f"{self.stack_name}/00000000-0000-0000-0000-000000000000"
            ),
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        return values.get(name)

    def _parameter(self, name: str) -> Any:
        declaration = self._parameters[name] or {}
        if name in self._parameter_values:
            raw: Any = self._parameter_values[name]
        elif "Default" in declaration:
            raw = declaration["Default"]
        else:
            raise TemplateError(f"parameter {name} has no Default and no value was given")
        ptype = str(declaration.get("Type", "String"))
        if ptype == "CommaDelimitedList" or ptype.startswith("List<"):
            if isinstance(raw, list):
                return [cfn_string(item) for item in raw]
            text = cfn_string(raw)
            return [item.strip() for item in text.split(",")] if text else []
        return cfn_string(raw)

    def _default_ref(self, name: str) -> Any:
        resource = self._resources[name] or {}
        properties = resource.get("Properties") or {}
        rtype = resource.get("Type", "")
        explicit = {
            "AWS::DynamoDB::Table": "TableName",
            "AWS::Serverless::SimpleTable": "TableName",
            "AWS::Serverless::Function": "FunctionName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::SSM::Parameter": "Name",
            "AWS::SecretsManager::Secret": "Name",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::KMS::Alias": "AliasName",
            "AWS::IAM::Role": "RoleName",
        }.get(rtype)
        if explicit and properties.get(explicit) is not None:
            return self.resolve_string(properties[explicit])
        if rtype in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return f"{self.stack_name}-{name}"
        if rtype == "AWS::SecretsManager::Secret":
            return f"arn:aws:secretsmanager:{self.region}:{self.account_id}:secret:{name}-AbCdEf"
        if rtype in ("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api"):
            # An API id, as in https://<id>.execute-api.<region>.amazonaws.com (the
            # IssuerSecret's value, for one): the id the local API's events carry.
            return LOCAL_API_ID
        if rtype == "AWS::KMS::Key":
            # A key id (Ref) is a UUID; the local API creates no KMS keys.
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.stack_name}/{name}"))
        return name

    def _boolean(self, value: Any, where: str) -> bool:
        result = self.resolve(value)
        if isinstance(result, bool):
            return result
        if isinstance(result, str) and result.lower() in ("true", "false"):
            return result.lower() == "true"
        raise TemplateError(f"{where} does not evaluate to a boolean: {result!r}")

    def _fn_ref(self, arg: Any) -> Any:
        name = self.resolve(arg)
        if not isinstance(name, str):
            raise TemplateError(f"!Ref needs a name, got {arg!r}")
        return self.ref(name)

    def _fn_get_att(self, arg: Any) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        args = self.resolve(arg)
        if not (
            isinstance(args, list) and len(args) == 2 and all(isinstance(a, str) for a in args)
        ):
            raise TemplateError(f"!GetAtt needs [resource, attribute], got {arg!r}")
        return self.get_att(args[0], args[1])

    def _fn_sub(self, arg: Any) -> Any:
        if isinstance(arg, str):
            text, variables = arg, {}
        elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], dict):
            text, variables = arg[0], self.resolve(arg[1])
        else:
            raise TemplateError(f"!Sub needs a string or [string, variables], got {arg!r}")
        if not isinstance(text, str):
            raise TemplateError(f"!Sub needs a string, got {text!r}")

        def substitute(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return cfn_string(variables[expression])
            if expression in self._parameters or expression.startswith("AWS::"):
                return cfn_string(self.ref(expression))
            if "." in expression:
                name, attribute = expression.split(".", 1)
                return cfn_string(self.get_att(name, attribute))
            return cfn_string(self.ref(expression))

        return _SUB_VARIABLE.sub(substitute, text)

    def _fn_join(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"!Join needs [delimiter, list], got {arg!r}")
        delimiter = self.resolve_string(arg[0])
        items = self.resolve(arg[1])
        if not isinstance(items, list):
            raise TemplateError(f"!Join needs a list, got {items!r}")
        return delimiter.join(cfn_string(item) for item in items)

    def _fn_select(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"!Select needs [index, list], got {arg!r}")
        index = int(self.resolve_string(arg[0]))
        items = self.resolve(arg[1])
        if not isinstance(items, list) or not 0 <= index < len(items):
            raise TemplateError(f"!Select index {index} out of range for {items!r}")
        return items[index]

    def _fn_split(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"!Split needs [delimiter, string], got {arg!r}")
        return self.resolve_string(arg[1]).split(self.resolve_string(arg[0]))

    def _fn_if(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
            raise TemplateError(f"!If needs [condition, then, else], got {arg!r}")
        return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])

    def _fn_equals(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"!Equals needs two values, got {arg!r}")
        left, right = self.resolve(arg[0]), self.resolve(arg[1])
        if isinstance(left, str | int | float | bool) and isinstance(
            right, str | int | float | bool
        ):
            return cfn_string(left) == cfn_string(right)
        return bool(left == right)

    def _fn_not(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 1):
            raise TemplateError(f"!Not needs one condition, got {arg!r}")
        return not self._boolean(arg[0], "!Not")

    def _fn_and(self, arg: Any) -> Any:
        if not isinstance(arg, list):
            raise TemplateError(f"!And needs a list, got {arg!r}")
        return all(self._boolean(item, "!And") for item in arg)

    def _fn_or(self, arg: Any) -> Any:
        if not isinstance(arg, list):
            raise TemplateError(f"!Or needs a list, got {arg!r}")
        return any(self._boolean(item, "!Or") for item in arg)

    def _fn_condition(self, arg: Any) -> Any:
        if not isinstance(arg, str):
            raise TemplateError(f"Condition needs a name, got {arg!r}")
        return self.condition(arg)

    def _fn_find_in_map(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) in (3, 4)):
            raise TemplateError(f"!FindInMap needs [map, key, key], got {arg!r}")
        name, first, second = (self.resolve_string(item) for item in arg[:3])
        try:
            return self._mappings[name][first][second]
        except (KeyError, TypeError) as exc:
            if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return self.resolve(arg[3]["DefaultValue"])
            raise TemplateError(f"!FindInMap {name}/{first}/{second} not found") from exc

    def _fn_base64(self, arg: Any) -> Any:
        return base64.b64encode(self.resolve_string(arg).encode()).decode()

    def _fn_get_azs(self, arg: Any) -> Any:
        region = self.resolve_string(arg) or self.region
        return [f"{region}{suffix}" for suffix in "abc"]
