"""Every DynamoDB call a handler makes is granted to its function in template.yaml, and
every Secrets Manager call the rotation function makes to its role.

moto does not enforce IAM, so a grant that is missing would only show in AWS. These tests
record each handler's calls (transaction items included) across its paths and hold them
to the function's policy statements, action by action and table (or secret) by table.
"""

from __future__ import annotations

import fnmatch
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from localapi.template import Resolver
from stateless_auth.tokens.rotation import EARLY_ROTATION_TAG, RotationTooSoon
from tests.support.aws import project_template
from tests.support.events import body, cookie_token, load_event, with_refresh_cookie
from tests.support.handlers import Stack
from tests.support.rotation import rotation_aws

pytestmark = pytest.mark.xdist_group("handlers")
FUNCTIONS = {
    "signup": "SignupFunction",
    "login": "LoginFunction",
    "refresh": "RefreshFunction",
    "logout": "LogoutFunction",
}
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def granted(function: str) -> set[tuple[str, str]]:
    """(dynamodb action, table logical id) pairs the function's policy allows."""
    template = project_template()
    grants: set[tuple[str, str]] = set()
    for policy in template["Resources"][function]["Properties"].get("Policies", []):
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            resource = statement["Resource"]
            table = resource.get("Fn::GetAtt", [None])[0] if isinstance(resource, dict) else None
            for action in statement["Action"]:
                if action.startswith("dynamodb:") and table:
                    grants.add((action.split(":", 1)[1], table))
    return grants


@pytest.fixture
def calls(stack: Stack) -> Iterator[dict[str, set[tuple[str, str]]]]:
    by_table = {name: logical for logical, name in stack.tables.items()}
    recorded: dict[str, set[tuple[str, str]]] = defaultdict(set)
    current: list[str] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        operation = model.name
        if operation == "TransactWriteItems":
            for item in params["TransactItems"]:
                ((kind, spec),) = item.items()
                recorded[current[0]].add((TRANSACT_ACTIONS[kind], by_table[spec["TableName"]]))
        elif operation == "BatchGetItem":
            for table in params["RequestItems"]:
                recorded[current[0]].add(("BatchGetItem", by_table[table]))
        else:
            recorded[current[0]].add((operation, by_table[params["TableName"]]))

    clients = {id(stack.dynamodb): stack.dynamodb}
    for name in FUNCTIONS:
        module = stack.handlers[name]
        for repository in (getattr(module, "users", None), getattr(module, "sessions", None)):
            if repository is not None:
                clients[id(repository._client)] = repository._client
    for client in clients.values():
        client.meta.events.register("provide-client-params.dynamodb", record, unique_id="iam")

    original = stack.invoke

    def invoke(name: str, event: dict[str, Any]) -> dict[str, Any]:
        current[:] = [name]
        return original(name, event)

    stack.invoke = invoke  # type: ignore[method-assign]
    try:
        yield recorded
    finally:
        stack.invoke = original  # type: ignore[method-assign]
        for client in clients.values():
            client.meta.events.unregister("provide-client-params.dynamodb", unique_id="iam")


def login_event(email: str, password: str) -> dict[str, Any]:
    event = load_event("login_ok.json")
    event["body"] = json.dumps({"email": email, "password": password})
    return event


def test_every_dynamodb_call_is_granted(
    stack: Stack, calls: dict[str, set[tuple[str, str]]]
) -> None:
    signup = load_event("signup_ok.json")
    signup["body"] = json.dumps({"email": "iam@example.com", "password": "an iam test passphrase"})
    stack.invoke("signup", signup)
    stack.invoke("login", login_event("iam@example.com", "wrong passphrase here"))  # counts
    first = cookie_token(
        stack.invoke("login", login_event("iam@example.com", "an iam test passphrase"))
    )
    second = cookie_token(
        stack.invoke("refresh", with_refresh_cookie("refresh_cookie.json", first))
    )
    stack.invoke("refresh", with_refresh_cookie("refresh_cookie.json", first))  # reuse: revoke
    stack.invoke("logout", with_refresh_cookie("logout_cookie.json", second))
    for _ in range(6):  # into the lock-out
        stack.invoke("login", login_event("iam@example.com", "wrong passphrase here"))
    assert body(stack.invoke("login", login_event("iam@example.com", "x" * 20)))["error"] == (
        "too_many_attempts"
    )

    assert set(calls) == set(FUNCTIONS)
    for name, function in FUNCTIONS.items():
        missing = calls[name] - granted(function)
        assert not missing, f"{function} calls DynamoDB without a grant: {sorted(missing)}"
        unused = granted(function) - calls[name]
        assert not unused, f"{function} is granted more than it uses: {sorted(unused)}"


# ------------------------------------------------------------- the rotation function

# Its own stack name and Region (Secrets Manager is regional in moto as in AWS), beside the
# handlers' stack, which this module's other test keeps in us-east-1.
ROTATION_STACK = "iam-rotation"
ROTATION_REGION = "eu-west-1"


def granted_secrets_manager(function: str, resolver: Resolver) -> set[tuple[str, str]]:
    """(secretsmanager action, ARN or ARN pattern) pairs the function's policy allows."""
    template = project_template()
    grants: set[tuple[str, str]] = set()
    for policy in template["Resources"][function]["Properties"].get("Policies", []):
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            assert statement["Effect"] == "Allow", statement
            resource = resolver.resolve_string(statement["Resource"])
            for action in statement["Action"]:
                if action.startswith("secretsmanager:"):
                    grants.add((action.split(":", 1)[1], resource))
    return grants


def test_every_secrets_manager_call_of_the_rotation_function_is_granted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Across a first rotation, a scheduled one, a refused one and an early one (tag),
    the rotation function calls exactly what KeyRotationFunction's role is granted: the
    TagResource of finishSecret's rotated-at record included."""
    with rotation_aws(monkeypatch, stack_name=ROTATION_STACK, region=ROTATION_REGION) as aws:
        resolver = Resolver(
            project_template(),
            stack_name=ROTATION_STACK,
            region=ROTATION_REGION,
            physical={logical: {"Ref": arn, "Arn": arn} for logical, arn in aws.secret_ids.items()},
        )
        arns = set(aws.secret_ids.values())
        calls: set[tuple[str, str]] = set()
        inside: list[bool] = []

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            if not inside:
                return  # the test's own calls (as Secrets Manager, or the operator)
            secret = str(params.get("SecretId", ""))
            # by ARN, or by name (the ARN's last part less the dash and six characters)
            (arn,) = [a for a in arns if secret in (a, a.split(":secret:")[1][:-7])]
            calls.add((model.name, arn))

        aws.secrets.meta.events.register(
            "provide-client-params.secretsmanager", record, unique_id="iam-rotation"
        )
        handler = aws.rotation_module.lambda_handler

        def recorded_handler(event: dict[str, Any], context: Any, **kwargs: Any) -> Any:
            inside.append(True)
            try:
                return handler(event, context, **kwargs)
            finally:
                inside.pop()

        monkeypatch.setattr(aws.rotation_module, "lambda_handler", recorded_handler)

        aws.rotate(after=0)  # the first keys (the placeholder)
        aws.rotate()  # a scheduled rotation
        with pytest.raises(RotationTooSoon):
            aws.rotate(after=60)  # refused
        aws.secrets.tag_resource(
            SecretId=aws.secret_id,
            Tags=[{"Key": EARLY_ROTATION_TAG, "Value": str(int(aws.wall_clock.now) + 600)}],
        )
        aws.rotate(after=60)  # allowed early

        grants = granted_secrets_manager("KeyRotationFunction", resolver)
        assert calls, "nothing recorded"
        missing = {
            (action, arn)
            for action, arn in calls
            if not any(a == action and fnmatch.fnmatchcase(arn, r) for a, r in grants)
        }
        assert not missing, f"the rotation function calls without a grant: {sorted(missing)}"
        unused = {
            (action, pattern)
            for action, pattern in grants
            if not any(a == action and fnmatch.fnmatchcase(arn, pattern) for a, arn in calls)
        }
        assert not unused, f"the rotation function is granted more than it uses: {unused}"
        assert ("TagResource", aws.secret_id) in calls
