"""template.yaml holds the interface the docs describe: names, configuration
(docs/configuration.md), routes (docs/routes.md) and IAM (docs/security.md,
docs/keys.md).

The template is read twice: as written (SAM) and as AWS SAM translates it to plain
CloudFormation (samtranslator, the code the AWS::Serverless transform runs), which is
where the IAM roles, the OpenAPI body of the HTTP API and the merged Globals are.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from tests.support.paths import ROOT, TEMPLATE
from tests.support.settings import load_test_settings

pytestmark = pytest.mark.xdist_group("template")

REGION = "us-east-1"

# logical id -> folder under functions/
FUNCTIONS = {
    "SignupFunction": "signup",
    "LoginFunction": "login",
    "RefreshFunction": "refresh",
    "LogoutFunction": "logout",
    "JwksFunction": "jwks",
    "MeFunction": "me",
    "AuthorizerFunction": "authorizer",
    "KeyRotationFunction": "rotation",
    "VerifyEmailFunction": "verify_email",
    "PasswordResetFunction": "password_reset",
    "MailerFunction": "mailer",
    "SessionsFunction": "sessions",
    "AccountFunction": "account",
    "MfaFunction": "mfa",
    "MfaVerifyFunction": "mfa_verify",
    # the authorizer's code again, as the MFA enrolment routes' authorizer
    "MfaEnrollmentAuthorizerFunction": "authorizer",
}
ROTATION_FUNCTION = "KeyRotationFunction"
AUTHORIZER_FUNCTIONS = {"AuthorizerFunction", "MfaEnrollmentAuthorizerFunction"}
MAILER_FUNCTION = "MailerFunction"

# docs/configuration.md (CONTRACT section 6): variable -> (parameter, default, min, max);
# min and max None for text; default None for a parameter without one (required at deploy).
CONFIGURATION_VARIABLES: dict[str, tuple[str, str | None, int | None, int | None]] = {
    "ACCESS_TOKEN_TTL_SECONDS": ("AccessTokenTtlSeconds", "900", 1, 86400),
    "REFRESH_TOKEN_TTL_SECONDS": ("RefreshTokenTtlSeconds", "7776000", 1, 31536000),
    "MAX_FAILED_LOGINS": ("MaxFailedLogins", "5", 1, 100),
    "LOCKOUT_SECONDS": ("LockoutSeconds", "300", 1, 86400),
    "PASSWORD_MIN_LENGTH": ("PasswordMinLength", "15", 8, 64),
    "ALLOWED_ORIGINS": ("AllowedOrigins", "", None, None),
    "JWT_ISSUER": ("JwtIssuer", "", None, None),
    "JWT_AUDIENCE": ("JwtAudience", "", None, None),
    "EMAIL_VERIFICATION": ("EmailVerification", "required", None, None),
    "VERIFY_EMAIL_TTL_SECONDS": ("VerifyEmailTtlSeconds", "86400", 300, 604800),
    "PASSWORD_RESET_TTL_SECONDS": ("PasswordResetTtlSeconds", "1800", 300, 86400),
    "MAX_EMAILS_PER_HOUR": ("MaxEmailsPerHour", "5", 1, 100),
    "EMAIL_FROM": ("EmailFrom", None, None, None),
    "APP_URL": ("AppUrl", None, None, None),
    "MFA": ("Mfa", "optional", None, None),
}
EMAIL_VERIFICATION_MODES = ["required", "optional"]
MFA_MODES = ["optional", "required"]
# The parameter groups of the console's form: where each new setting is shown.
PARAMETER_GROUPS = {
    "EmailVerification": "Accounts",
    "EmailFrom": "Email",
    "AppUrl": "Email",
    "VerifyEmailTtlSeconds": "Email",
    "PasswordResetTtlSeconds": "Email",
    "MaxEmailsPerHour": "Email",
    "PasswordResetReservedConcurrency": "Functions",
    "AccountReservedConcurrency": "Functions",
    "Mfa": "Accounts",
    "MfaReservedConcurrency": "Functions",
    "MfaVerifyReservedConcurrency": "Functions",
}

# docs/routes.md: (method, path) -> (function, authorizer or None for a public route)
ROUTES: dict[tuple[str, str], tuple[str, str | None]] = {
    ("POST", "/auth/signup"): ("SignupFunction", None),
    ("POST", "/auth/login"): ("LoginFunction", None),
    ("POST", "/auth/refresh"): ("RefreshFunction", None),
    ("POST", "/auth/logout"): ("LogoutFunction", None),
    ("GET", "/.well-known/jwks.json"): ("JwksFunction", None),
    ("GET", "/.well-known/openid-configuration"): ("JwksFunction", None),
    ("GET", "/me"): ("MeFunction", "TokenAuthorizer"),
    ("POST", "/auth/verify-email"): ("VerifyEmailFunction", None),
    ("POST", "/auth/verify-email/resend"): ("VerifyEmailFunction", None),
    ("POST", "/auth/password/forgot"): ("PasswordResetFunction", None),
    ("POST", "/auth/password/reset"): ("PasswordResetFunction", None),
    ("GET", "/auth/sessions"): ("SessionsFunction", "TokenAuthorizer"),
    ("DELETE", "/auth/sessions/{session_id}"): ("SessionsFunction", "TokenAuthorizer"),
    ("POST", "/auth/logout-all"): ("SessionsFunction", "TokenAuthorizer"),
    ("POST", "/auth/password/change"): ("AccountFunction", "TokenAuthorizer"),
    ("DELETE", "/me"): ("AccountFunction", "TokenAuthorizer"),
    # the enrolment routes alone take the enrolment token (MfaEnrollmentAuthorizer)
    ("POST", "/auth/mfa/totp/enroll"): ("MfaFunction", "MfaEnrollmentAuthorizer"),
    ("POST", "/auth/mfa/totp/confirm"): ("MfaFunction", "MfaEnrollmentAuthorizer"),
    ("POST", "/auth/mfa/recovery-codes"): ("MfaFunction", "TokenAuthorizer"),
    ("DELETE", "/auth/mfa"): ("MfaFunction", "TokenAuthorizer"),
    ("POST", "/auth/mfa/verify"): ("MfaVerifyFunction", None),  # the mfa_token is the credential
}
# authorizer name -> its function
AUTHORIZERS = {
    "TokenAuthorizer": "AuthorizerFunction",
    "MfaEnrollmentAuthorizer": "MfaEnrollmentAuthorizerFunction",
}

# token issuers: read the private keys
KEY_READERS = {"LoginFunction", "RefreshFunction", "MfaVerifyFunction"}
# Every function that knows the secret: the issuers, and the function that rotates it.
SECRET_HOLDERS = KEY_READERS | {ROTATION_FUNCTION}
EXTENSION_USERS = {
    "LoginFunction",
    "RefreshFunction",
    "MfaVerifyFunction",
    "JwksFunction",
    "AuthorizerFunction",
    "MfaEnrollmentAuthorizerFunction",
}

# The whole IAM grant of each function, as (action, resource) pairs; resources are named
# by the logical id they point at. Least privilege means: exactly this, nothing more.
# SES identities are named "EmailFrom" (the address identity) and "EmailFromDomain" (its
# domain's identity: the variable of the !Sub that names it).
EXPECTED_GRANTS: dict[str, set[tuple[str, str]]] = {
    "SignupFunction": {("dynamodb:PutItem", "UsersTable"), ("sqs:SendMessage", "MailQueue")},
    # tests/handlers/test_iam_matches_calls.py holds these to the calls each handler makes.
    "LoginFunction": {
        ("dynamodb:BatchGetItem", "UsersTable"),
        ("dynamodb:UpdateItem", "UsersTable"),  # also the session's entry, in its transaction
        ("dynamodb:DeleteItem", "UsersTable"),
        ("dynamodb:PutItem", "SessionsTable"),
        ("secretsmanager:GetSecretValue", "SigningKeysSecret"),
    },
    "RefreshFunction": {
        ("dynamodb:GetItem", "SessionsTable"),
        ("dynamodb:PutItem", "SessionsTable"),
        ("dynamodb:UpdateItem", "SessionsTable"),
        ("dynamodb:GetItem", "UsersTable"),  # claims follow the account
        ("dynamodb:UpdateItem", "UsersTable"),  # the entry's last_used_at; unlisted on reuse
        ("secretsmanager:GetSecretValue", "SigningKeysSecret"),
    },
    "VerifyEmailFunction": {
        ("dynamodb:GetItem", "UsersTable"),
        ("dynamodb:UpdateItem", "UsersTable"),
        ("dynamodb:DeleteItem", "UsersTable"),
        ("sqs:SendMessage", "MailQueue"),
    },
    "PasswordResetFunction": {
        ("dynamodb:GetItem", "UsersTable"),
        ("dynamodb:UpdateItem", "UsersTable"),
        ("dynamodb:DeleteItem", "UsersTable"),
        ("sqs:SendMessage", "MailQueue"),
    },
    "MailerFunction": {
        ("dynamodb:GetItem", "UsersTable"),
        ("dynamodb:PutItem", "UsersTable"),
        ("dynamodb:UpdateItem", "UsersTable"),
        ("ses:SendEmail", "EmailFrom"),
        ("ses:SendEmail", "EmailFromDomain"),
        # what its event source mapping does with the function's role
        ("sqs:ReceiveMessage", "MailQueue"),
        ("sqs:DeleteMessage", "MailQueue"),
        ("sqs:GetQueueAttributes", "MailQueue"),
        ("sqs:ChangeMessageVisibility", "MailQueue"),
    },
    "LogoutFunction": {
        ("dynamodb:GetItem", "SessionsTable"),
        ("dynamodb:UpdateItem", "SessionsTable"),
        ("dynamodb:UpdateItem", "UsersTable"),  # the session unlisted from its account
    },
    "SessionsFunction": {
        ("dynamodb:GetItem", "UsersTable"),  # the account lists its sessions
        ("dynamodb:UpdateItem", "UsersTable"),  # unlist one, or all
        ("dynamodb:UpdateItem", "SessionsTable"),  # the ended one's revoked_at
    },
    "AccountFunction": {
        ("dynamodb:BatchGetItem", "UsersTable"),  # the account and its failed logins
        ("dynamodb:UpdateItem", "UsersTable"),  # a failure reserved; the change
        ("dynamodb:DeleteItem", "UsersTable"),  # FAILED#, pending OTT#, the account
        ("sqs:SendMessage", "MailQueue"),  # the notices
    },
    "MfaFunction": {
        ("dynamodb:BatchGetItem", "UsersTable"),  # the account and its failed logins
        ("dynamodb:GetItem", "UsersTable"),  # the pending secret, at confirm
        ("dynamodb:UpdateItem", "UsersTable"),  # a failure reserved; the factor's change
        ("dynamodb:DeleteItem", "UsersTable"),  # a success clears the count
        ("sqs:SendMessage", "MailQueue"),  # the notices
    },
    # login's grants (the second step of a login), the public keys (the mfa_token) and
    # the mail queue (a recovery code used)
    "MfaVerifyFunction": {
        ("dynamodb:BatchGetItem", "UsersTable"),
        ("dynamodb:UpdateItem", "UsersTable"),
        ("dynamodb:DeleteItem", "UsersTable"),
        ("dynamodb:PutItem", "UsersTable"),  # the spent mfa_token's record
        ("dynamodb:PutItem", "SessionsTable"),
        ("secretsmanager:GetSecretValue", "SigningKeysSecret"),
        ("secretsmanager:GetSecretValue", "PublicKeysSecret"),
        ("sqs:SendMessage", "MailQueue"),
    },
    "JwksFunction": {
        ("secretsmanager:GetSecretValue", "PublicKeysSecret"),
        ("secretsmanager:GetSecretValue", "IssuerSecret"),
    },
    "MeFunction": set(),
    "AuthorizerFunction": {
        ("secretsmanager:GetSecretValue", "PublicKeysSecret"),
        ("secretsmanager:GetSecretValue", "IssuerSecret"),
    },
    "MfaEnrollmentAuthorizerFunction": {
        ("secretsmanager:GetSecretValue", "PublicKeysSecret"),
        ("secretsmanager:GetSecretValue", "IssuerSecret"),
    },
    "KeyRotationFunction": {
        (action, "SigningKeysSecret")
        for action in (
            "secretsmanager:DescribeSecret",  # also its KMS key and tags
            "secretsmanager:GetSecretValue",
            "secretsmanager:PutSecretValue",
            "secretsmanager:UpdateSecretVersionStage",
            "secretsmanager:TagResource",  # stateless-auth:rotated-at, in finishSecret
        )
    }
    | {
        ("secretsmanager:GetSecretValue", "PublicKeysSecret"),
        ("secretsmanager:PutSecretValue", "PublicKeysSecret"),
    },
}
for _issuer in sorted(KEY_READERS):
    EXPECTED_GRANTS[_issuer] = EXPECTED_GRANTS[_issuer] | {
        ("secretsmanager:GetSecretValue", "IssuerSecret")
    }
# The functions that read the fixed issuer (sign with it, verify it, or publish it).
ISSUER_READERS = KEY_READERS | {"JwksFunction"} | AUTHORIZER_FUNCTIONS
# What reading a key store takes; anything else on a key store is a write.
KEY_STORE_READS = {
    "SigningKeysSecret": {"secretsmanager:GetSecretValue"},
    "PublicKeysSecret": {"secretsmanager:GetSecretValue"},
}
# Resources the functions' IAM policies name by ARN pattern, from their explicit Name, not
# by !Ref (a !Ref would be a cycle: see test_no_circular_dependency_after_the_transform).
NAMED_BY_PATTERN = {
    "SigningKeysSecret": (
        "${AWS::StackName}-signing-keys",
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}"
        ":secret:${AWS::StackName}-signing-keys-??????",
    ),
    "IssuerSecret": (
        "${AWS::StackName}-issuer",
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}"
        ":secret:${AWS::StackName}-issuer-??????",
    ),
}
BASIC_EXECUTION_ROLE = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"

# The functions that enqueue mail jobs; the mailer alone consumes them and sends mail.
MAIL_SENDERS = {
    "SignupFunction",
    "VerifyEmailFunction",
    "PasswordResetFunction",
    "AccountFunction",
    "MfaFunction",
    "MfaVerifyFunction",
}
MAIL_QUEUE_CONSUMPTION = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
}
# The SES identity of EmailFrom's domain: the second part of the address (the parameter's
# pattern allows one "@" only).
EMAIL_FROM_DOMAIN = {"Fn::Select": [1, {"Fn::Split": ["@", {"Ref": "EmailFrom"}]}]}
SES_IDENTITY = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/"

OUTPUTS = [
    "ApiUrl",
    "Issuer",
    "JwksUrl",
    "AuthorizerFunctionArn",
    "UsersTableName",
    "SessionsTableName",
    "SigningKeysSecretArn",
    "MailQueueUrl",
    "MailDeadLetterQueueUrl",
    "AlarmTopicArn",
]


# ------------------------------------------------------------------ helpers


class _ManagedPolicies:
    """Stands in for the IAM ListPolicies call the transform makes for managed policy names."""

    def load(self) -> dict[str, str]:
        return {
            "AWSLambdaBasicExecutionRole": BASIC_EXECUTION_ROLE,
            "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        }


def _translate(sam: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """Plain CloudFormation, as the AWS::Serverless transform would produce it."""
    sam = copy.deepcopy(sam)
    # The transform wants packaged code (what `sam deploy` uploads); the path is kept as key.
    for resource in sam["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = "s3://bucket/" + properties[key].strip("/")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        translated: dict[str, Any] = transform(sam, parameters or {}, _ManagedPolicies())
        return translated


def _tool(name: str) -> str:
    beside_python = Path(sys.executable).with_name(name)
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (expected in {beside_python.parent} or on PATH)")
    return found


def _tool_env() -> dict[str, str]:
    return {**os.environ, "AWS_DEFAULT_REGION": REGION, "SAM_CLI_TELEMETRY": "0"}


def _run_tool(name: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The tool (sam, cfn-lint) run from the project's root, its output captured."""
    return subprocess.run(
        [_tool(name), *arguments],
        cwd=ROOT,
        env=_tool_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resource_name(resource: Any) -> str:
    """The logical id an IAM Resource points at (or the literal string)."""
    if isinstance(resource, str):
        return resource
    if "Ref" in resource:
        return str(resource["Ref"])
    if "Fn::GetAtt" in resource:
        target = resource["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".")[0])
    if "Fn::Sub" in resource:
        text = resource["Fn::Sub"]
        text = text[0] if isinstance(text, list) else text
        for logical_id, (_name, pattern) in NAMED_BY_PATTERN.items():
            if text == pattern:
                return logical_id
        refs = [r for r in re.findall(r"\$\{([^}!]+)\}", text) if not r.startswith("AWS::")]
        assert len(refs) == 1, f"cannot tell what {text!r} points at"
        return str(refs[0]).split(".")[0]
    raise AssertionError(f"unexpected IAM resource {resource!r}")


def _policy_documents(cfn: dict[str, Any], role_id: str) -> Iterator[dict[str, Any]]:
    role = cfn["Resources"][role_id]
    for policy in role["Properties"].get("Policies", []):
        yield policy["PolicyDocument"]
    for resource in cfn["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource[
            "Properties"
        ].get("Roles", []):
            yield resource["Properties"]["PolicyDocument"]


def _grants(cfn: dict[str, Any], role_id: str) -> set[tuple[str, str]]:
    grants = set()
    for document in _policy_documents(cfn, role_id):
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow", statement
            assert "NotAction" not in statement, statement
            assert "NotResource" not in statement, statement
            for action in _as_list(statement["Action"]):
                for resource in _as_list(statement["Resource"]):
                    grants.add((action, _resource_name(resource)))
    return grants


def _role_of(cfn: dict[str, Any], function_id: str) -> str:
    role = cfn["Resources"][function_id]["Properties"]["Role"]
    assert "Fn::GetAtt" in role, f"{function_id} must use the role SAM generates from Policies"
    return str(role["Fn::GetAtt"][0])


# ----------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    template: dict[str, Any] = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    return template


@pytest.fixture(scope="module")
def cfn(sam: dict[str, Any]) -> dict[str, Any]:
    return _translate(sam)


@pytest.fixture(scope="module")
def body(cfn: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document SAM generates for AuthApi."""
    api = cfn["Resources"]["AuthApi"]
    assert api["Type"] == "AWS::ApiGatewayV2::Api"
    document: dict[str, Any] = api["Properties"]["Body"]
    return document


def _lambda_functions(cfn: dict[str, Any]) -> list[str]:
    """The logical ids of the plain Lambda functions the transform makes."""
    return [
        logical_id
        for logical_id, resource in cfn["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    ]


def _function_env(cfn: dict[str, Any], function_id: str) -> dict[str, Any]:
    variables: dict[str, Any] = cfn["Resources"][function_id]["Properties"]["Environment"][
        "Variables"
    ]
    return variables


# --------------------------------------------------------------- the tools


@pytest.mark.slow
def test_sam_validate_lint_is_clean() -> None:
    result = _run_tool("sam", "validate", "--lint", "--template-file", str(TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_cfn_lint_is_clean() -> None:
    result = _run_tool("cfn-lint", str(TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------- functions


def test_every_operation_has_its_function(sam: dict[str, Any]) -> None:
    declared = {
        logical_id
        for logical_id, resource in sam["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert set(FUNCTIONS) <= declared
    for logical_id, folder in FUNCTIONS.items():
        assert sam["Resources"][logical_id]["Properties"]["CodeUri"] == f"functions/{folder}/"


def test_every_function_runs_python313_on_arm64_with_the_shared_layer(
    sam: dict[str, Any], cfn: dict[str, Any]
) -> None:
    shared_layers = [
        logical_id
        for logical_id, resource in cfn["Resources"].items()
        if resource["Type"] == "AWS::Lambda::LayerVersion" and logical_id.startswith("SharedLayer")
    ]
    assert len(shared_layers) == 1, shared_layers
    functions = _lambda_functions(cfn)
    assert set(FUNCTIONS) <= set(functions)
    for logical_id in functions:
        properties = cfn["Resources"][logical_id]["Properties"]
        assert properties["Runtime"] == "python3.13", logical_id
        assert properties["Architectures"] == ["arm64"], logical_id
        assert properties["Handler"] == "app.lambda_handler", logical_id
        assert properties["Layers"][0] == {"Ref": shared_layers[0]}, logical_id
        assert "TracingConfig" not in properties, f"{logical_id}: tracing is off by default"


def test_shared_layer_is_built_for_python313_arm64(sam: dict[str, Any]) -> None:
    layer = sam["Resources"]["SharedLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert layer["Metadata"].get("BuildArchitecture", "arm64") == "arm64"
    assert layer["Properties"]["ContentUri"] == "layers/shared/"
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]


def test_password_hashing_functions_get_more_memory(
    sam: dict[str, Any], cfn: dict[str, Any]
) -> None:
    parameters = sam["Parameters"]
    assert parameters["PasswordHashingMemorySize"]["Default"] == 1024
    assert parameters["AuthorizerMemorySize"]["Default"] == 512
    expected = {
        "SignupFunction": {"Ref": "PasswordHashingMemorySize"},
        "LoginFunction": {"Ref": "PasswordHashingMemorySize"},
        "PasswordResetFunction": {"Ref": "PasswordHashingMemorySize"},  # a reset hashes
        "AccountFunction": {"Ref": "PasswordHashingMemorySize"},  # checks, and a change hashes
        "MfaFunction": {"Ref": "PasswordHashingMemorySize"},  # the password; recovery codes
        "MfaVerifyFunction": {"Ref": "PasswordHashingMemorySize"},  # a recovery code
        "AuthorizerFunction": {"Ref": "AuthorizerMemorySize"},
        "MfaEnrollmentAuthorizerFunction": {"Ref": "AuthorizerMemorySize"},
    }
    for logical_id in FUNCTIONS:
        memory = cfn["Resources"][logical_id]["Properties"]["MemorySize"]
        assert memory == expected.get(logical_id, 256), logical_id
    description = " ".join(parameters["PasswordHashingMemorySize"]["Description"].split())
    assert "signup, login, password reset" in description
    assert "recovery codes" in description


# ----------------------------------------------------------- configuration


@pytest.mark.parametrize("variable", sorted(CONFIGURATION_VARIABLES))
def test_contract_setting_is_a_parameter_with_its_default_and_range(
    sam: dict[str, Any], variable: str
) -> None:
    name, default, minimum, maximum = CONFIGURATION_VARIABLES[variable]
    parameter = sam["Parameters"][name]
    if default is None:  # required at deploy: no default, and a pattern that says why
        assert "Default" not in parameter, name
        assert parameter["AllowedPattern"], name
        assert parameter["ConstraintDescription"], name
    else:
        assert str(parameter["Default"]) == default
    if minimum is None:
        assert parameter["Type"] == "String"
    else:
        assert parameter["Type"] == "Number"
        assert parameter["MinValue"] == minimum
        assert parameter["MaxValue"] == maximum
    # the description names the variable it sets, first
    assert " ".join(parameter["Description"].split()).startswith(f"{variable} - "), name


def test_the_email_verification_modes_are_the_allowed_values(sam: dict[str, Any]) -> None:
    from stateless_auth import config

    parameter = sam["Parameters"]["EmailVerification"]
    assert parameter["AllowedValues"] == EMAIL_VERIFICATION_MODES
    assert list(config.EMAIL_VERIFICATION_MODES) == EMAIL_VERIFICATION_MODES
    assert parameter["Default"] == EMAIL_VERIFICATION_MODES[0]  # required


def test_the_mfa_modes_are_the_allowed_values(sam: dict[str, Any]) -> None:
    """Mfa (MFA): what the functions accept, optional by default; a value the stack
    accepts never stops a function at start-up."""
    from stateless_auth import config

    parameter = sam["Parameters"]["Mfa"]
    assert parameter["AllowedValues"] == MFA_MODES
    assert list(config.MFA_MODES) == MFA_MODES
    assert parameter["Default"] == "optional"
    for mode in MFA_MODES:
        assert load_test_settings(MFA=mode).mfa_required is (mode == "required")
    description = " ".join(parameter["Description"].split())
    assert "MfaEnrollmentAuthorizer" in description


def test_only_the_enrolment_authorizer_accepts_enrolment_tokens(cfn: dict[str, Any]) -> None:
    """ACCEPT_MFA_ENROLLMENT_TOKENS is set on the enrolment authorizer alone, a constant
    of the template (no parameter can turn it on anywhere else), and that function is
    the default authorizer's code and settings otherwise."""
    for logical_id in FUNCTIONS:
        value = _function_env(cfn, logical_id).get("ACCEPT_MFA_ENROLLMENT_TOKENS")
        if logical_id == "MfaEnrollmentAuthorizerFunction":
            assert value == "true"
        else:
            assert value is None, logical_id
    assert load_test_settings().accept_mfa_enrollment_tokens is False  # the default
    assert load_test_settings(ACCEPT_MFA_ENROLLMENT_TOKENS="true").accept_mfa_enrollment_tokens
    default, enrolment = (
        cfn["Resources"][logical_id]["Properties"]
        for logical_id in ("AuthorizerFunction", "MfaEnrollmentAuthorizerFunction")
    )
    for name in ("Code", "Handler", "Runtime", "Architectures", "Layers", "MemorySize", "Timeout"):
        assert enrolment[name] == default[name], name
    assert {**enrolment["Environment"]["Variables"]} == {
        **default["Environment"]["Variables"],
        "ACCEPT_MFA_ENROLLMENT_TOKENS": "true",
    }


def test_the_numeric_settings_have_the_ranges_the_functions_accept(sam: dict[str, Any]) -> None:
    """Every Number setting of CONTRACT section 6 has the default and range of the
    start-up check in stateless_auth.config (one IntSetting per variable): a value the
    stack accepts never stops a function at start-up, and the other way round."""
    from stateless_auth import config

    settings = {
        setting.name: setting
        for setting in vars(config).values()
        if isinstance(setting, config.IntSetting)
    }
    for variable, (name, default, minimum, maximum) in CONFIGURATION_VARIABLES.items():
        if minimum is None:
            assert variable not in settings, f"{variable} is a number for the functions"
            continue
        assert variable in settings, f"stateless_auth.config does not check {variable}"
        setting = settings[variable]
        assert (str(setting.default), setting.low, setting.high) == (default, minimum, maximum)
        parameter = sam["Parameters"][name]
        assert (parameter["MinValue"], parameter["MaxValue"]) == (setting.low, setting.high)


def test_every_parameter_is_in_one_group(sam: dict[str, Any]) -> None:
    groups = sam["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    placed: dict[str, str] = {}
    for group in groups:
        for name in group["Parameters"]:
            assert name not in placed, f"{name} is in two groups"
            placed[name] = group["Label"]["default"]
    assert set(placed) == set(sam["Parameters"])
    for name, label in PARAMETER_GROUPS.items():
        assert placed[name] == label, name


@pytest.mark.parametrize("variable", sorted(CONFIGURATION_VARIABLES))
def test_contract_setting_reaches_every_function(cfn: dict[str, Any], variable: str) -> None:
    name = CONFIGURATION_VARIABLES[variable][0]
    expected: dict[str, Any] = {"Ref": name}
    if variable == "JWT_AUDIENCE":
        expected = {"Fn::If": ["HasJwtAudience", {"Ref": name}, {"Ref": "AWS::StackName"}]}
    for logical_id in FUNCTIONS:
        assert _function_env(cfn, logical_id).get(variable) == expected, logical_id


def test_empty_audience_means_the_stack_name(sam: dict[str, Any]) -> None:
    assert sam["Conditions"]["HasJwtAudience"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "JwtAudience"}, ""]}]
    }


def test_resource_names_reach_every_function(sam: dict[str, Any], cfn: dict[str, Any]) -> None:
    for logical_id in FUNCTIONS:
        env = _function_env(cfn, logical_id)
        assert env["USERS_TABLE"] == {"Ref": "UsersTable"}, logical_id
        assert env["SESSIONS_TABLE"] == {"Ref": "SessionsTable"}, logical_id
        assert env["PUBLIC_KEYS_SECRET_ID"] == {"Ref": "PublicKeysSecret"}, logical_id
        assert env["MAIL_QUEUE_URL"] == {"Ref": "MailQueue"}, logical_id  # its URL
        # by name, with !Sub: a !Ref to the secret (which names the API) would be a cycle
        assert env["JWT_ISSUER_SECRET_ID"] == {"Fn::Sub": NAMED_BY_PATTERN["IssuerSecret"][0]}
        assert "JWT_ISSUER_PARAMETER" not in env, logical_id
        assert "PUBLIC_KEYS_PARAMETER" not in env, logical_id
        assert env["POWERTOOLS_SERVICE_NAME"] == "stateless-auth", logical_id
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}, logical_id
    assert sam["Parameters"]["MetricsNamespace"]["Default"] == "StatelessAuth"


def test_only_token_issuers_know_the_signing_secret(cfn: dict[str, Any]) -> None:
    for logical_id in FUNCTIONS:
        env = _function_env(cfn, logical_id)
        if logical_id in SECRET_HOLDERS:
            assert env["SIGNING_KEYS_SECRET_ID"] == {"Ref": "SigningKeysSecret"}
        else:
            assert "SIGNING_KEYS_SECRET_ID" not in env, logical_id


def test_key_readers_have_the_parameters_and_secrets_extension(cfn: dict[str, Any]) -> None:
    extension = {
        "Fn::If": [
            "HasExtensionLayerArn",
            {"Ref": "ParametersSecretsExtensionLayerArn"},
            {
                "Fn::FindInMap": [
                    "ParametersSecretsExtensionArm64",
                    {"Ref": "AWS::Region"},
                    "Arn",
                ]
            },
        ]
    }
    for logical_id in FUNCTIONS:
        properties = cfn["Resources"][logical_id]["Properties"]
        env = properties["Environment"]["Variables"]
        if logical_id in EXTENSION_USERS:
            assert properties["Layers"][1:] == [extension], logical_id
            assert env["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"] == "2773", logical_id
        else:
            assert len(properties["Layers"]) == 1, logical_id
            assert "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT" not in env, logical_id


def test_extension_layer_table_is_arm64_and_regional(sam: dict[str, Any]) -> None:
    parameter = sam["Parameters"]["ParametersSecretsExtensionLayerArn"]
    pattern = parameter["AllowedPattern"]
    assert re.fullmatch(pattern, parameter["Default"])
    table = sam["Mappings"]["ParametersSecretsExtensionArm64"]
    assert REGION in table
    for region, entry in table.items():
        arn = entry["Arn"]
        assert re.fullmatch(pattern, arn), arn
        assert re.fullmatch(
            rf"arn:aws:lambda:{region}:\d{{12}}:layer:"
            r"AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:\d+",
            arn,
        ), arn


@pytest.mark.parametrize(
    ("parameter", "accepted", "refused"),
    [
        (
            "JwtIssuer",
            ["", "https://auth.example.com", "https://example.com/auth"],
            ["https://auth.example.com/", "http://auth.example.com", "auth.example.com"],
        ),
        (
            "AllowedOrigins",
            ["", "https://app.example.com", "https://a.example.com, http://localhost:5173"],
            [
                "https://app.example.com/",
                "app.example.com",
                "https://a.example.com;https://b",
                "*",
                "https://*.example.com",
                "https://a.example.com,*",
                "   ",
            ],
        ),
        ("JwtAudience", ["", "stateless-auth", "https://api.example.com"], ["two words"]),
        (
            "EmailFrom",
            [
                "no-reply@example.com",
                "No.Reply+auth@mail.example.co.uk",
                "no-reply@stateless-auth.localhost",
            ],
            [
                "",
                "example.com",
                "no-reply@",
                "@example.com",
                "a@b@example.com",  # one "@": the domain identity is the part after it
                "Auth <no-reply@example.com>",
                "no reply@example.com",
                "no-reply@example",
                "no-reply@-example.com",
            ],
        ),
        (
            "AppUrl",
            ["https://app.example.com", "https://example.com/auth", "https://localhost:8443"],
            [
                "",
                "https://app.example.com/",
                "https://example.com/auth/",
                "http://app.example.com",
                "app.example.com",
                "https://app.example.com?x=1",
                "https://app.example.com/#/",
                "https://app.example.com/a b",
            ],
        ),
    ],
)
def test_parameter_patterns(
    sam: dict[str, Any], parameter: str, accepted: list[str], refused: list[str]
) -> None:
    pattern = sam["Parameters"][parameter]["AllowedPattern"]
    for value in accepted:
        assert re.fullmatch(pattern, value), f"{parameter} should accept {value!r}"
    for value in refused:
        assert not re.fullmatch(pattern, value), f"{parameter} should refuse {value!r}"


# -------------------------------------------------------------------- data


@pytest.mark.parametrize("logical_id", ["UsersTable", "SessionsTable"])
def test_table_is_durable_and_expires_items(sam: dict[str, Any], logical_id: str) -> None:
    table = sam["Resources"][logical_id]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    properties = table["Properties"]
    assert "TableName" not in properties
    assert properties["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] is True
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}


def test_key_stores_start_empty(sam: dict[str, Any]) -> None:
    for logical_id in ("SigningKeysSecret", "PublicKeysSecret"):
        secret = sam["Resources"][logical_id]
        assert secret["Type"] == "AWS::SecretsManager::Secret", logical_id
        assert json.loads(secret["Properties"]["SecretString"]) == {"keys": []}, logical_id
    assert "PublicKeysParameter" not in sam["Resources"], "the public keys are a secret now"
    assert "IssuerParameter" not in sam["Resources"], "the issuer is a secret now"
    assert not [
        logical_id
        for logical_id, resource in sam["Resources"].items()
        if resource["Type"] == "AWS::SSM::Parameter"
    ], "ssm:PutParameter is granted widely: no SSM parameter may hold anything tokens rely on"


def test_resources_named_by_pattern_have_that_name(sam: dict[str, Any]) -> None:
    """The IAM patterns (!Sub) match the names the resources really get."""
    from localapi.template import Resolver

    resolver = Resolver(sam, stack_name="my-stack", region=REGION)
    arns = {}
    for logical_id, (name, pattern) in NAMED_BY_PATTERN.items():
        assert sam["Resources"][logical_id]["Type"] == "AWS::SecretsManager::Secret"
        assert sam["Resources"][logical_id]["Properties"]["Name"] == {"Fn::Sub": name}
        physical = resolver.resolve({"Fn::Sub": name})
        arn = arns[logical_id] = resolver.resolve({"Fn::Sub": pattern})
        # Secrets Manager appends a dash and six random characters to the name.
        assert arn.endswith(f":secret:{physical}-??????"), arn
        assert fnmatch.fnmatchcase(f"{arn[: -len('-??????')]}-AbC123", arn)
        assert not fnmatch.fnmatchcase(f"{arn[: -len('-??????')]}-old-AbC123", arn)
    assert resolver.resolve({"Fn::Sub": NAMED_BY_PATTERN["SigningKeysSecret"][0]}) == (
        "my-stack-signing-keys"
    )
    assert resolver.resolve({"Fn::Sub": NAMED_BY_PATTERN["IssuerSecret"][0]}) == "my-stack-issuer"
    # neither pattern matches the other secret
    assert not fnmatch.fnmatchcase(
        arns["SigningKeysSecret"].replace("-??????", "-AbC123"), arns["IssuerSecret"]
    )
    assert not fnmatch.fnmatchcase(
        arns["IssuerSecret"].replace("-??????", "-AbC123"), arns["SigningKeysSecret"]
    )


# --------------------------------------------------------------------- IAM


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_has_exactly_its_grants(cfn: dict[str, Any], logical_id: str) -> None:
    role_id = _role_of(cfn, logical_id)
    assert _grants(cfn, role_id) == EXPECTED_GRANTS[logical_id]
    managed = cfn["Resources"][role_id]["Properties"].get("ManagedPolicyArns", [])
    assert managed == [BASIC_EXECUTION_ROLE]


# DynamoDB grants narrowed to some kinds of item by dynamodb:LeadingKeys (the partition
# key; IAM checks it for each item of a transaction or batch too): (action, table) ->
# the patterns, per function. Every other DynamoDB grant is on the whole table. Users
# table items: EMAIL# accounts, FAILED# failed-login counts, OTT# one-time tokens, MAILS#
# mail rates; sessions table: SESSION#, TOKEN#. tests/handlers/test_iam_matches_calls.py
# holds every call to these.
ACCOUNTS = ("EMAIL#*",)
ACCOUNTS_AND_FAILURES = ("EMAIL#*", "FAILED#*")
EXPECTED_LEADING_KEYS: dict[str, dict[tuple[str, str], tuple[str, ...]]] = {
    "LoginFunction": {
        ("dynamodb:BatchGetItem", "UsersTable"): ACCOUNTS_AND_FAILURES,
        ("dynamodb:UpdateItem", "UsersTable"): ACCOUNTS_AND_FAILURES,
        ("dynamodb:DeleteItem", "UsersTable"): ("FAILED#*",),  # a success clears the count
    },
    "RefreshFunction": {
        ("dynamodb:GetItem", "UsersTable"): ACCOUNTS,
        ("dynamodb:UpdateItem", "UsersTable"): ACCOUNTS,
    },
    "LogoutFunction": {("dynamodb:UpdateItem", "UsersTable"): ACCOUNTS},
    "SessionsFunction": {
        ("dynamodb:GetItem", "UsersTable"): ACCOUNTS,
        ("dynamodb:UpdateItem", "UsersTable"): ACCOUNTS,
        ("dynamodb:UpdateItem", "SessionsTable"): ("SESSION#*",),
    },
    "AccountFunction": {
        ("dynamodb:BatchGetItem", "UsersTable"): ACCOUNTS_AND_FAILURES,
        ("dynamodb:UpdateItem", "UsersTable"): ACCOUNTS_AND_FAILURES,
        ("dynamodb:DeleteItem", "UsersTable"): ("EMAIL#*", "FAILED#*", "OTT#*"),
    },
    "MfaFunction": {
        ("dynamodb:BatchGetItem", "UsersTable"): ACCOUNTS_AND_FAILURES,
        ("dynamodb:GetItem", "UsersTable"): ACCOUNTS,
        ("dynamodb:UpdateItem", "UsersTable"): ACCOUNTS_AND_FAILURES,
        ("dynamodb:DeleteItem", "UsersTable"): ("FAILED#*",),  # never the account itself
    },
    "MfaVerifyFunction": {
        ("dynamodb:BatchGetItem", "UsersTable"): ACCOUNTS_AND_FAILURES,
        ("dynamodb:UpdateItem", "UsersTable"): ACCOUNTS,  # wrong codes count on the account
        ("dynamodb:DeleteItem", "UsersTable"): ("FAILED#*",),
        ("dynamodb:PutItem", "UsersTable"): ("MFA#*",),  # never an account
    },
    "MailerFunction": {
        ("dynamodb:GetItem", "UsersTable"): ("EMAIL#*", "MAILS#*"),
        ("dynamodb:PutItem", "UsersTable"): ("OTT#*", "MAILS#*"),
        ("dynamodb:UpdateItem", "UsersTable"): ACCOUNTS,
    },
}


def _leading_keys(
    cfn: dict[str, Any], role_id: str
) -> dict[tuple[str, str], tuple[str, ...] | None]:
    """(dynamodb action, table) -> its dynamodb:LeadingKeys patterns, or None for the
    whole table. A pair granted by two statements would be as wide as the wider: refused."""
    found: dict[tuple[str, str], tuple[str, ...] | None] = {}
    for statement in _statements(cfn, role_id):
        actions = [a for a in _as_list(statement["Action"]) if a.startswith("dynamodb:")]
        if not actions:
            continue
        condition = statement.get("Condition")
        patterns: tuple[str, ...] | None = None
        if condition is not None:
            # ForAllValues: every key the request names must match (ForAnyValue: one would do).
            assert set(condition) == {"ForAllValues:StringLike"}, (role_id, condition)
            assert set(condition["ForAllValues:StringLike"]) == {"dynamodb:LeadingKeys"}
            patterns = tuple(_as_list(condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]))
        for action in actions:
            for resource in _as_list(statement["Resource"]):
                pair = (action, _resource_name(resource))
                assert pair not in found, f"{role_id}: {pair} is granted twice"
                found[pair] = patterns
    return found


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_touches_only_its_kinds_of_item(cfn: dict[str, Any], logical_id: str) -> None:
    leading = _leading_keys(cfn, _role_of(cfn, logical_id))
    narrowed = {pair: patterns for pair, patterns in leading.items() if patterns is not None}
    assert narrowed == EXPECTED_LEADING_KEYS.get(logical_id, {})


def test_the_session_functions_touch_no_lockout_token_or_mail_item(cfn: dict[str, Any]) -> None:
    """Refresh, logout and the sessions routes write the users table only to list or
    unlist sessions on an account: no failed-login count, one-time token or mail rate."""
    for logical_id in ("RefreshFunction", "LogoutFunction", "SessionsFunction"):
        for (action, table), patterns in _leading_keys(cfn, _role_of(cfn, logical_id)).items():
            if table == "UsersTable":
                assert patterns == ACCOUNTS, (logical_id, action)
                for other in ("FAILED#a@example.com", "OTT#ab12", "MAILS#a@example.com"):
                    assert not any(fnmatch.fnmatchcase(other, p) for p in patterns)
                assert fnmatch.fnmatchcase("EMAIL#a@example.com", patterns[0])


def _all_grants(cfn: dict[str, Any]) -> dict[str, set[tuple[str, str]]]:
    roles = [
        logical_id
        for logical_id, resource in cfn["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
    ]
    return {role_id: _grants(cfn, role_id) for role_id in roles}


def test_only_token_issuers_can_read_the_private_keys(cfn: dict[str, Any]) -> None:
    """Of the functions behind the API, only login, refresh and MFA verify (the token
    issuers); besides them, only the rotation function, which no route reaches."""
    allowed_roles = {_role_of(cfn, logical_id) for logical_id in SECRET_HOLDERS}
    for role_id, grants in _all_grants(cfn).items():
        touches_secret = any(resource == "SigningKeysSecret" for _action, resource in grants)
        assert not touches_secret or role_id in allowed_roles, role_id
    routed = {function_id for function_id, _authorizer in ROUTES.values()}
    assert routed & SECRET_HOLDERS == KEY_READERS
    assert "Events" not in cfn["Resources"][ROTATION_FUNCTION]["Properties"]


def test_authorizer_and_jwks_read_public_keys_only(cfn: dict[str, Any]) -> None:
    for logical_id in sorted(AUTHORIZER_FUNCTIONS | {"JwksFunction"}):
        assert _grants(cfn, _role_of(cfn, logical_id)) == {
            ("secretsmanager:GetSecretValue", "PublicKeysSecret"),
            ("secretsmanager:GetSecretValue", "IssuerSecret"),
        }, logical_id


def test_the_issuer_readers_read_it_from_the_issuer_secret_and_no_one_writes_it(
    cfn: dict[str, Any],
) -> None:
    readers = set()
    for role_id, grants in _all_grants(cfn).items():
        for action, resource in grants:
            assert not action.startswith("ssm:"), (role_id, action)  # no SSM at all
            if resource == "IssuerSecret":
                assert action == "secretsmanager:GetSecretValue", (role_id, action)
                readers.add(role_id)
    assert readers == {_role_of(cfn, logical_id) for logical_id in ISSUER_READERS}


def test_only_the_rotation_function_may_write_the_keys_by_iam(cfn: dict[str, Any]) -> None:
    rotation_role = _role_of(cfn, ROTATION_FUNCTION)
    writers: dict[str, set[str]] = {store: set() for store in KEY_STORE_READS}
    for role_id, grants in _all_grants(cfn).items():
        for action, resource in grants:
            assert "*" not in action, (role_id, action)
            assert resource != "*", (role_id, action)
            if resource in KEY_STORE_READS and action not in KEY_STORE_READS[resource]:
                writers[resource].add(role_id)
            if role_id != rotation_role:
                # no write to any secret or parameter, whatever it points at
                assert action == "secretsmanager:GetSecretValue" or (
                    action.split(":")[0] not in {"secretsmanager", "ssm", "kms"}
                ), (role_id, action)
    assert writers == {store: {rotation_role} for store in KEY_STORE_READS}


# ------------------------------------------------------------------- email


def _statements(cfn: dict[str, Any], role_id: str) -> Iterator[dict[str, Any]]:
    for document in _policy_documents(cfn, role_id):
        yield from document["Statement"]


def test_only_the_mailer_may_send_email_and_only_as_email_from(cfn: dict[str, Any]) -> None:
    """ses:SendEmail for the mailer alone, on EmailFrom's two identities (the address,
    and its domain: SES authorises a send against whichever is verified), and only with
    EmailFrom as the From address."""
    mailer_role = _role_of(cfn, MAILER_FUNCTION)
    for role_id, grants in _all_grants(cfn).items():
        ses = {grant for grant in grants if grant[0].split(":")[0] in {"ses", "sesv2"}}
        if role_id != mailer_role:
            assert not ses, (role_id, ses)
    ses_statements = [
        statement
        for statement in _statements(cfn, mailer_role)
        if any(str(action).startswith("ses:") for action in _as_list(statement["Action"]))
    ]
    assert len(ses_statements) == 1, ses_statements
    (statement,) = ses_statements
    assert _as_list(statement["Action"]) == ["ses:SendEmail"]
    assert statement["Resource"] == [
        {"Fn::Sub": SES_IDENTITY + "${EmailFrom}"},
        {"Fn::Sub": [SES_IDENTITY + "${EmailFromDomain}", {"EmailFromDomain": EMAIL_FROM_DOMAIN}]},
    ]
    assert statement["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "EmailFrom"}}}
    # what the two resolve to, and that the condition lets EmailFrom through, nothing else
    email_from = "no-reply@mail.example.com"
    pattern = cfn["Parameters"]["EmailFrom"]["AllowedPattern"]
    assert re.fullmatch(pattern, email_from)
    local_part, domain = email_from.split("@")
    assert (local_part, domain) == ("no-reply", "mail.example.com")  # !Select 1 of !Split @
    condition = {"StringEquals": {"ses:FromAddress": email_from}}
    assert _condition_holds(condition, {"ses:FromAddress": email_from})
    assert not _condition_holds(condition, {"ses:FromAddress": "ceo@mail.example.com"})
    assert not _condition_holds(condition, {})


def test_only_the_request_handlers_enqueue_mail_and_only_the_mailer_consumes_it(
    cfn: dict[str, Any],
) -> None:
    senders = {_role_of(cfn, logical_id) for logical_id in MAIL_SENDERS}
    mailer_role = _role_of(cfn, MAILER_FUNCTION)
    for role_id, grants in _all_grants(cfn).items():
        sqs = {grant for grant in grants if grant[0].startswith("sqs:")}
        expected = set()
        if role_id in senders:
            expected = {("sqs:SendMessage", "MailQueue")}
        if role_id == mailer_role:
            expected = {(action, "MailQueue") for action in MAIL_QUEUE_CONSUMPTION}
        assert sqs == expected, role_id
        # nobody reads or writes the dead-letter queue: it is the operator's
        assert not any(resource == "MailDeadLetterQueue" for _action, resource in grants)
    # no SAM `Events: SQS` (it attaches AWSLambdaSQSQueueExecutionRole, sqs:* on any queue)
    assert "Events" not in cfn["Resources"][MAILER_FUNCTION]["Properties"]
    for role_id in _all_grants(cfn):
        managed = cfn["Resources"][role_id]["Properties"].get("ManagedPolicyArns", [])
        assert not any("SQS" in str(arn) for arn in managed), role_id


def test_the_mailer_is_invoked_by_its_event_source_mapping_only(
    sam: dict[str, Any], cfn: dict[str, Any]
) -> None:
    mappings = {
        logical_id: resource
        for logical_id, resource in cfn["Resources"].items()
        if resource["Type"] == "AWS::Lambda::EventSourceMapping"
    }
    assert list(mappings) == ["MailerEventSource"]
    assert mappings["MailerEventSource"]["Properties"] == {
        "EventSourceArn": {"Fn::GetAtt": ["MailQueue", "Arn"]},
        "FunctionName": {"Ref": MAILER_FUNCTION},
        "BatchSize": 10,
        # a failed send fails its own record only: the rest of the batch is not resent
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "Enabled": True,
    }
    assert sam["Resources"]["MailerEventSource"] == mappings["MailerEventSource"]
    for resource in cfn["Resources"].values():  # no Lambda permission: no push invoker
        if resource["Type"] == "AWS::Lambda::Permission":
            assert resource["Properties"]["FunctionName"] not in (
                {"Ref": MAILER_FUNCTION},
                {"Fn::GetAtt": [MAILER_FUNCTION, "Arn"]},
            )
    properties = cfn["Resources"][MAILER_FUNCTION]["Properties"]
    assert properties["Timeout"] == 30
    assert properties["Handler"] == "app.lambda_handler"
    routed = {function_id for function_id, _authorizer in ROUTES.values()}
    assert MAILER_FUNCTION not in routed


def test_failed_mails_are_retried_then_kept_in_the_dead_letter_queue(
    sam: dict[str, Any], cfn: dict[str, Any]
) -> None:
    queues = {
        logical_id: resource
        for logical_id, resource in sam["Resources"].items()
        if resource["Type"] == "AWS::SQS::Queue"
    }
    assert set(queues) == {"MailQueue", "MailDeadLetterQueue"}
    for logical_id, queue in queues.items():
        properties = queue["Properties"]
        assert properties["SqsManagedSseEnabled"] is True, logical_id  # encrypted at rest
        assert "QueueName" not in properties, logical_id
        assert "KmsMasterKeyId" not in properties, logical_id
    mail_queue = queues["MailQueue"]["Properties"]
    assert mail_queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["MailDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    # a batch still being sent is not handed out again (AWS: six times the timeout)
    mailer_timeout = cfn["Resources"][MAILER_FUNCTION]["Properties"]["Timeout"]
    assert mail_queue["VisibilityTimeout"] >= 6 * mailer_timeout
    # kept longer than the jobs of the queue (4 days, SQS's default): 14 days, the most
    dead_letters = queues["MailDeadLetterQueue"]["Properties"]
    assert dead_letters["MessageRetentionPeriod"] == 1209600
    assert mail_queue.get("MessageRetentionPeriod", 345600) < 1209600
    assert "RedrivePolicy" not in dead_letters
    # where an operator finds them
    outputs = sam["Outputs"]
    assert outputs["MailQueueUrl"]["Value"] == {"Ref": "MailQueue"}
    assert outputs["MailDeadLetterQueueUrl"]["Value"] == {"Ref": "MailDeadLetterQueue"}
    assert "dead-letter" in outputs["MailDeadLetterQueueUrl"]["Description"]


def test_email_from_and_app_url_are_required_and_say_what_they_need(sam: dict[str, Any]) -> None:
    email_from = sam["Parameters"]["EmailFrom"]
    constraint = " ".join(email_from["ConstraintDescription"].split())
    assert "an address of a verified SES identity, e.g. no-reply@example.com" in constraint
    app_url = sam["Parameters"]["AppUrl"]
    constraint = " ".join(app_url["ConstraintDescription"].split())
    assert "https" in constraint
    assert "/verify-email#token=" in constraint
    assert "/reset-password#token=" in constraint
    for parameter in (email_from, app_url):
        assert "Default" not in parameter
        assert "required" in parameter["Description"]


# ------------------------------------------------- who may change or read the keys


# Every Secrets Manager action on a secret that is not a read: the Write, Permissions
# management and Tagging actions of the Service Authorization Reference, less
# ValidateResourcePolicy (which changes nothing) and CreateSecret (no existing secret).
SECRETS_MANAGER_CHANGES = {
    "secretsmanager:CancelRotateSecret",
    "secretsmanager:DeleteResourcePolicy",
    "secretsmanager:DeleteSecret",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:PutSecretValue",
    "secretsmanager:RemoveRegionsFromReplication",
    "secretsmanager:ReplicateSecretToRegions",
    "secretsmanager:RestoreSecret",
    "secretsmanager:RotateSecret",
    "secretsmanager:StopReplicationToReplica",
    "secretsmanager:TagResource",
    "secretsmanager:UntagResource",
    "secretsmanager:UpdateSecret",
    "secretsmanager:UpdateSecretVersionStage",
}
SECRETS_MANAGER_READS = {
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:GetSecretValue",
    "secretsmanager:ListSecretVersionIds",
}
ACCOUNT_ID = "123456789012"  # the local resolver's account
SECRET_HOLDERS_IN_KEY_POLICY = [
    "LoginFunction",
    "RefreshFunction",
    "MfaVerifyFunction",
    ROTATION_FUNCTION,
]
ACCOUNT_ROOT = f"arn:aws:iam::{ACCOUNT_ID}:root"
VIA_CLOUDFORMATION = "cloudformation.amazonaws.com"
DEPLOYMENT_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/cfn-deployer"


def _role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"


# Principals of the account that are not the rotation function: the other functions, an
# administrator, a CI user, the root user.
OTHER_PRINCIPALS = [
    *(
        _role_arn(f"{logical_id}Role")
        for logical_id in FUNCTIONS
        if logical_id != ROTATION_FUNCTION
    ),
    _role_arn("Admin"),
    f"arn:aws:iam::{ACCOUNT_ID}:user/ci",
    ACCOUNT_ROOT,
]


def _resolved_properties(
    cfn: dict[str, Any], logical_id: str, parameters: dict[str, str]
) -> dict[str, Any]:
    from localapi.template import Resolver

    resolver = Resolver(cfn, region=REGION, account_id=ACCOUNT_ID, parameter_values=parameters)
    resolved = resolver.resolve(cfn["Resources"][logical_id]["Properties"])
    assert isinstance(resolved, dict)
    return resolved


def _condition_holds(condition: dict[str, Any], context: dict[str, Any]) -> bool:
    """IAM's evaluation of a Condition block.

    Single-valued keys: an absent key fails a positive operator and satisfies a negated
    one, as IAM evaluates it. Multivalued keys (a list in ``context``, as aws:TagKeys):
    the ForAnyValue: operators, true when some value of the request passes the test
    (false when the request has none). The operators the policies here use are all it
    knows.
    """
    for operator, tests in condition.items():
        for key, expected in tests.items():
            values = [str(value) for value in _as_list(expected)]
            present = key in context
            if operator.startswith("ForAnyValue:"):
                requested = [str(v) for v in _as_list(context.get(key, []))]
                inner = operator.split(":", 1)[1]
                if inner == "StringEquals":
                    holds = any(v in values for v in requested)
                elif inner == "StringNotEquals":
                    holds = any(v not in values for v in requested)
                else:
                    raise AssertionError(f"the test's evaluator does not know {operator}")
            elif operator in ("StringEquals", "ArnEquals"):
                holds = present and context[key] in values
            elif operator in ("StringLike", "ArnLike"):
                holds = present and any(fnmatch.fnmatchcase(context[key], v) for v in values)
            elif operator in ("StringNotEquals", "ArnNotEquals"):
                holds = not present or context[key] not in values
            else:
                raise AssertionError(f"the test's evaluator does not know {operator}")
            if not holds:
                return False
    return True


def _matches_action(action: str, statement: dict[str, Any]) -> bool:
    assert "NotAction" not in statement, statement
    return any(fnmatch.fnmatchcase(action, pattern) for pattern in _as_list(statement["Action"]))


def _parameters(service_role: bool) -> dict[str, str]:
    return {"CloudFormationRoleArn": DEPLOYMENT_ROLE} if service_role else {}


def _secret_policies(cfn: dict[str, Any]) -> dict[str, str]:
    """secret logical id -> the logical id of its one resource policy."""
    found: dict[str, list[str]] = {}
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] == "AWS::SecretsManager::ResourcePolicy":
            found.setdefault(resource["Properties"]["SecretId"]["Ref"], []).append(logical_id)
    assert all(len(policies) == 1 for policies in found.values()), found
    return {secret: policies[0] for secret, policies in found.items()}


def test_every_secret_has_a_resource_policy_that_blocks_public_access(
    cfn: dict[str, Any],
) -> None:
    secrets = {
        logical_id
        for logical_id, resource in cfn["Resources"].items()
        if resource["Type"] == "AWS::SecretsManager::Secret"
    }
    assert secrets == {"SigningKeysSecret", "PublicKeysSecret", "IssuerSecret"}
    policies = _secret_policies(cfn)
    assert set(policies) == secrets
    for secret, policy in policies.items():
        assert cfn["Resources"][policy]["Properties"]["BlockPublicPolicy"] is True, secret


def _deny_statements(
    cfn: dict[str, Any], secret: str, parameters: dict[str, str]
) -> list[dict[str, Any]]:
    """The statements of the secret's resource policy, resolved for these parameters:
    each a Deny to every principal on this secret (a policy that grants nothing)."""
    properties = _resolved_properties(cfn, _secret_policies(cfn)[secret], parameters)
    assert properties["BlockPublicPolicy"] is True
    statements: list[dict[str, Any]] = properties["ResourcePolicy"]["Statement"]
    for statement in statements:
        assert statement["Effect"] == "Deny", statement
        assert statement["Principal"] == "*", statement
        assert statement["Resource"] == "*", statement
    return statements


def _denied_by(statements: list[dict[str, Any]], action: str, context: dict[str, Any]) -> bool:
    return any(
        _matches_action(action, statement)
        and _condition_holds(statement.get("Condition", {}), context)
        for statement in statements
    )


OPERATOR_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/ops/key-operator"
ROTATED_AT = "stateless-auth:rotated-at"
EARLY_ROTATION = "stateless-auth:allow-early-rotation-until"
# TagResource requests, by the tag keys they set
TAG_REQUESTS = {
    "rotated-at": [ROTATED_AT],
    "early": [EARLY_ROTATION],
    "both records": [ROTATED_AT, EARLY_ROTATION],
    "another tag": ["team"],
    "early and another": [EARLY_ROTATION, "team"],
}
# Who may do what to the signing key secret: "rotation" (the rotation function's role),
# "operator" (KeyOperatorRoleArn, when given), "cloudformation" (a stack change).
SIGNING_KEYS_CHANGERS: dict[tuple[str, str | None], set[str]] = {
    **{
        (action, None): {"rotation", "cloudformation"}
        for action in SECRETS_MANAGER_CHANGES
        if action not in {"secretsmanager:RotateSecret", "secretsmanager:TagResource"}
    },
    ("secretsmanager:RotateSecret", None): {"rotation", "operator", "cloudformation"},
    ("secretsmanager:TagResource", "rotated-at"): {"rotation"},
    ("secretsmanager:TagResource", "early"): {"rotation", "operator", "cloudformation"},
    ("secretsmanager:TagResource", "both records"): {"rotation"},
    ("secretsmanager:TagResource", "another tag"): {"cloudformation"},
    ("secretsmanager:TagResource", "early and another"): {"cloudformation"},
}


def _requesters(service_role: bool) -> dict[tuple[str, bool], set[str]]:
    """(principal ARN, through CloudFormation) -> which of the kinds above that request
    is (empty: anyone else; the rotation role's own request through a stack, say, is
    both "rotation" and, without a service role, "cloudformation")."""
    rotation_role = _role_arn(f"{ROTATION_FUNCTION}Role")
    kinds: dict[tuple[str, bool], set[str]] = {}
    for principal in [*OTHER_PRINCIPALS, rotation_role, OPERATOR_ROLE, DEPLOYMENT_ROLE]:
        for via_stack in (False, True):
            kind = set()
            if principal == rotation_role:
                kind.add("rotation")
            if principal == OPERATOR_ROLE:
                kind.add("operator")
            if (service_role and principal == DEPLOYMENT_ROLE) or (not service_role and via_stack):
                kind.add("cloudformation")
            kinds[(principal, via_stack)] = kind
    return kinds


def _context(principal: str, via_stack: bool, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {"aws:PrincipalArn": principal, **extra}
    if via_stack:
        context["aws:CalledViaFirst"] = VIA_CLOUDFORMATION
    return context


@pytest.mark.parametrize("operator", [False, True], ids=["no-operator", "operator"])
@pytest.mark.parametrize("service_role", [False, True], ids=["deployer", "service-role"])
def test_only_the_rotation_role_can_change_the_signing_keys(
    cfn: dict[str, Any], service_role: bool, operator: bool
) -> None:
    """The private key set's resource policy (the security review's first finding).

    Without it, UpdateSecret(KmsKeyId=<own key>, SecretString=<own key set>) by any
    principal with that IAM permission (PowerUser) had the next rotation publish the
    attacker's keys. Every change is denied but to the rotation role and CloudFormation;
    RotateSecret and the early-rotation tag also to the KeyOperatorRoleArn role (`make
    rotate-keys`), and to no one else when it is not given; no tag but the two rotation
    records may be set, and the rotated-at record only by the rotation function.
    """
    parameters = {
        **_parameters(service_role),
        **({"KeyOperatorRoleArn": OPERATOR_ROLE} if operator else {}),
    }
    statements = _deny_statements(cfn, "SigningKeysSecret", parameters)
    denied_actions = {
        action for statement in statements for action in _as_list(statement["Action"])
    }
    assert denied_actions == SECRETS_MANAGER_CHANGES, "every change, and only changes"
    assert {action for action, _tags in SIGNING_KEYS_CHANGERS} == SECRETS_MANAGER_CHANGES

    requesters = _requesters(service_role)
    for (action, tags), kinds in SIGNING_KEYS_CHANGERS.items():
        if not operator:
            kinds = kinds - {"operator"}
        extra: dict[str, Any] = {} if tags is None else {"aws:TagKeys": TAG_REQUESTS[tags]}
        allowed = {
            requester
            for requester in requesters
            if not _denied_by(statements, action, _context(*requester, **extra))
        }
        expected = {requester for requester, kind in requesters.items() if kind & kinds}
        assert allowed == expected, (action, tags)
    for action in SECRETS_MANAGER_READS:  # login, refresh and rotation read it
        for requester in requesters:
            assert not _denied_by(statements, action, _context(*requester)), action


@pytest.mark.parametrize("service_role", [False, True], ids=["deployer", "service-role"])
def test_only_cloudformation_can_change_the_issuer(cfn: dict[str, Any], service_role: bool) -> None:
    """The issuer secret's resource policy: no function writes it, not even the rotation
    role; only a stack change (JwtIssuer) does."""
    statements = _deny_statements(cfn, "IssuerSecret", _parameters(service_role))
    denied_actions = {
        action for statement in statements for action in _as_list(statement["Action"])
    }
    assert denied_actions == SECRETS_MANAGER_CHANGES
    requesters = _requesters(service_role)
    for action in sorted(SECRETS_MANAGER_CHANGES):
        for requester, kind in requesters.items():
            denied = _denied_by(statements, action, _context(*requester))
            assert denied is ("cloudformation" not in kind), (action, requester)
    for action in SECRETS_MANAGER_READS:
        for requester in requesters:
            assert not _denied_by(statements, action, _context(*requester)), action


def test_the_key_operator_is_an_optional_role(sam: dict[str, Any]) -> None:
    parameter = sam["Parameters"]["KeyOperatorRoleArn"]
    assert (parameter["Type"], parameter["Default"]) == ("String", "")
    pattern = parameter["AllowedPattern"]
    for accepted in ("", OPERATOR_ROLE, "arn:aws-us-gov:iam::123456789012:role/Ops"):
        assert re.fullmatch(pattern, accepted), accepted
    for refused in ("*", "arn:aws:iam::123456789012:root", "Ops", "arn:aws:iam::1:role/x"):
        assert not re.fullmatch(pattern, refused), refused
    description = " ".join(parameter["Description"].split())
    assert "make rotate-keys" in description
    assert "Empty" in description
    assert "schedule" in description
    assert sam["Conditions"]["HasKeyOperatorRole"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "KeyOperatorRoleArn"}, ""]}]
    }
    groups = sam["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    (keys,) = [group for group in groups if group["Label"]["default"] == "Signing keys"]
    assert "KeyOperatorRoleArn" in keys["Parameters"]


@pytest.mark.parametrize("service_role", [False, True], ids=["deployer", "service-role"])
def test_only_the_rotation_role_can_change_the_published_key_set(
    cfn: dict[str, Any], service_role: bool
) -> None:
    """The public key set's resource policy denies every change to everyone else.

    An explicit Deny beats any IAM Allow, so ssm:PutParameter-style broad grants (CI
    roles, PowerUser) no longer reach the keys that verify tokens. CloudFormation may still
    update and delete the stack: on the deployer's behalf (aws:CalledViaFirst), or only as
    the CloudFormationRoleArn service role when one is given.
    """
    policy = _secret_policies(cfn)["PublicKeysSecret"]
    properties = _resolved_properties(cfn, policy, _parameters(service_role))
    assert properties["BlockPublicPolicy"] is True
    statements = properties["ResourcePolicy"]["Statement"]
    assert all(statement["Effect"] == "Deny" for statement in statements), "it grants nothing"
    denied_actions = {
        action for statement in statements for action in _as_list(statement["Action"])
    }
    assert denied_actions >= SECRETS_MANAGER_CHANGES
    assert not SECRETS_MANAGER_READS & denied_actions, "the authorizer and jwks must read it"

    def denied(action: str, principal: str, **context: str) -> bool:
        request = {"aws:PrincipalArn": principal, **context}
        return any(
            statement["Principal"] == "*"
            and statement["Resource"] == "*"
            and _matches_action(action, statement)
            and _condition_holds(statement.get("Condition", {}), request)
            for statement in statements
        )

    rotation_role = _role_arn(f"{ROTATION_FUNCTION}Role")
    for action in sorted(SECRETS_MANAGER_CHANGES):
        assert not denied(action, rotation_role), action
        for principal in OTHER_PRINCIPALS:
            assert denied(action, principal), (action, principal)
            assert denied(action, principal, **{"aws:CalledViaFirst": "athena.amazonaws.com"})
            # CloudFormation acting with that principal's credentials (no service role)
            via_stack = denied(action, principal, **{"aws:CalledViaFirst": VIA_CLOUDFORMATION})
            assert via_stack is service_role, (action, principal)
        assert denied(action, DEPLOYMENT_ROLE) is not service_role, action


@pytest.mark.parametrize("service_role", [False, True], ids=["deployer", "service-role"])
def test_only_the_issuers_and_rotation_can_decrypt_the_signing_keys(
    cfn: dict[str, Any], service_role: bool
) -> None:
    secret = cfn["Resources"]["SigningKeysSecret"]["Properties"]
    assert secret["KmsKeyId"] == {"Fn::GetAtt": ["SigningKeysKey", "Arn"]}
    key = cfn["Resources"]["SigningKeysKey"]
    assert key["Type"] == "AWS::KMS::Key"
    properties = _resolved_properties(cfn, "SigningKeysKey", _parameters(service_role))
    assert properties["EnableKeyRotation"] is True
    assert properties.get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    statements = properties["KeyPolicy"]["Statement"]
    assert all(statement["Effect"] == "Allow" for statement in statements)

    # Structure: kms:Decrypt goes to exactly the three roles, or to the account for the
    # key-access check alone (no real secret version is ever called that).
    decrypt_roles: set[str] = set()
    for statement in statements:
        if not _matches_action("kms:Decrypt", statement):
            continue
        principals = set(_as_list(statement["Principal"]["AWS"]))
        if principals == {ACCOUNT_ROOT}:
            condition = statement["Condition"]
            assert condition["StringEquals"]["kms:EncryptionContext:SecretVersionId"] == (
                "RequestToValidateKeyAccess"
            ), statement
        else:
            decrypt_roles |= principals
    assert decrypt_roles == {_role_arn(f"{logical_id}Role") for logical_id in SECRET_HOLDERS}
    raw_principals = [
        statement["Principal"]["AWS"]
        for statement in key["Properties"]["KeyPolicy"]["Statement"]
        if statement["Sid"] == "TokenIssuersAndRotationDecryptTheSigningKeys"
    ]
    assert raw_principals == [
        [
            {"Fn::GetAtt": [f"{logical_id}Role", "Arn"]}
            for logical_id in SECRET_HOLDERS_IN_KEY_POLICY
        ]
    ], "the roles SAM generates for the functions, by GetAtt"

    # Behaviour: who may do what, as KMS would evaluate the key policy (an account-root
    # principal lets any principal of the account in, if its IAM policy also allows).
    def allowed(action: str, principal: str, context: dict[str, str]) -> bool:
        request = {"aws:PrincipalArn": principal, **context}
        for statement in statements:
            principals = _as_list(statement["Principal"]["AWS"])
            if principal not in principals and ACCOUNT_ROOT not in principals:
                continue
            if _matches_action(action, statement) and _condition_holds(
                statement.get("Condition", {}), request
            ):
                return True
        return False

    secret_arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:stateless-auth-local-signing-keys-AbC123"
    real_version = {
        "kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com",
        "kms:EncryptionContext:SecretARN": secret_arn,
        "kms:EncryptionContext:SecretVersionId": "3f1c5a4e-6b7d-4e8f-9a0b-1c2d3e4f5a6b",
    }
    everyone = [*OTHER_PRINCIPALS, _role_arn(f"{ROTATION_FUNCTION}Role"), DEPLOYMENT_ROLE]

    def who(action: str, **extra: str) -> set[str]:
        return {p for p in everyone if allowed(action, p, {**real_version, **extra})}

    issuers = {_role_arn(f"{logical_id}Role") for logical_id in SECRET_HOLDERS}
    assert who("kms:Decrypt") == issuers
    # not through a stack either (a dynamic reference resolves with the deployer's rights)
    assert who("kms:Decrypt", **{"aws:CalledViaFirst": VIA_CLOUDFORMATION}) == issuers
    # only through Secrets Manager, and only for this secret
    assert who("kms:Decrypt", **{"kms:ViaService": f"s3.{REGION}.amazonaws.com"}) == set()
    other_secret = secret_arn.replace("signing-keys", "other")
    assert who("kms:Decrypt", **{"kms:EncryptionContext:SecretARN": other_secret}) == set()
    # encrypting a new version: the rotation; the deployment role too (it deploys anyway)
    writers = {_role_arn(f"{ROTATION_FUNCTION}Role")} | (
        {DEPLOYMENT_ROLE} if service_role else set()
    )
    assert who("kms:GenerateDataKey") == writers

    # CloudFormation creates the secret: placeholder encrypted, key access validated.
    deployer = DEPLOYMENT_ROLE if service_role else _role_arn("Admin")
    through_stack = {} if service_role else {"aws:CalledViaFirst": VIA_CLOUDFORMATION}
    validation = {
        **real_version,
        "kms:EncryptionContext:SecretVersionId": "RequestToValidateKeyAccess",
    }
    assert allowed("kms:GenerateDataKey", deployer, {**real_version, **through_stack})
    assert allowed("kms:Decrypt", deployer, {**validation, **through_stack})
    assert not allowed("kms:Decrypt", deployer, {**real_version, **through_stack})
    assert not allowed("kms:Decrypt", _role_arn("AuthorizerFunctionRole"), validation)
    if service_role:  # then only that role, not whoever runs a stack
        assert not allowed(
            "kms:GenerateDataKey",
            _role_arn("Admin"),
            {**real_version, "aws:CalledViaFirst": VIA_CLOUDFORMATION},
        )

    # The account administers the key but cannot use it or hand its use out.
    administration = [
        statement
        for statement in statements
        if _as_list(statement["Principal"]["AWS"]) == [ACCOUNT_ROOT]
        and "Condition" not in statement
    ]
    assert len(administration) == 1
    for needed in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:EnableKeyRotation"):
        assert _matches_action(needed, administration[0]), needed
    for use in (
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:CreateGrant",
    ):
        assert not _matches_action(use, administration[0]), use


# ------------------------------------------------------- concurrency and logs


ARGON2_CAPS = {
    "SignupFunction": ("SignupReservedConcurrency", "CapsSignupConcurrency", 10),
    "LoginFunction": ("LoginReservedConcurrency", "CapsLoginConcurrency", 20),
    "PasswordResetFunction": (
        "PasswordResetReservedConcurrency",
        "CapsPasswordResetConcurrency",
        5,
    ),
    "AccountFunction": ("AccountReservedConcurrency", "CapsAccountConcurrency", 5),
    "MfaFunction": ("MfaReservedConcurrency", "CapsMfaConcurrency", 5),
    "MfaVerifyFunction": ("MfaVerifyReservedConcurrency", "CapsMfaVerifyConcurrency", 10),
}
UNRESERVED_MINIMUM = 100  # Lambda keeps at least this much of an account's concurrency free
DEFAULT_ACCOUNT_CONCURRENCY = 1000


def test_argon2_functions_have_a_reserved_concurrency_cap(
    sam: dict[str, Any], cfn: dict[str, Any]
) -> None:
    """A flood of signups or logins cannot take the concurrency the authorizer needs."""
    from localapi.template import NO_VALUE, Resolver

    for logical_id, (parameter, condition, default) in ARGON2_CAPS.items():
        declared = sam["Parameters"][parameter]
        assert (declared["Type"], declared["Default"], declared["MinValue"]) == (
            "Number",
            default,
            0,
        ), parameter
        description = " ".join(declared["Description"].split())
        assert "0 = no cap" in description, parameter
        assert sam["Conditions"][condition] == {
            "Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, "0"]}]
        }
        value = cfn["Resources"][logical_id]["Properties"]["ReservedConcurrentExecutions"]
        assert value == {"Fn::If": [condition, {"Ref": parameter}, {"Ref": "AWS::NoValue"}]}
        assert Resolver(cfn).resolve(value) == str(default)
        assert Resolver(cfn, parameter_values={parameter: "0"}).resolve(value) is NO_VALUE
    signup = " ".join(sam["Parameters"]["SignupReservedConcurrency"]["Description"].split())
    assert "authorizer" in signup
    assert str(UNRESERVED_MINIMUM) in signup
    reserved = sum(default for _parameter, _condition, default in ARGON2_CAPS.values())
    assert reserved <= DEFAULT_ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM
    for logical_id in FUNCTIONS:
        if logical_id not in ARGON2_CAPS:  # the authorizer above all must not be capped
            properties = cfn["Resources"][logical_id]["Properties"]
            assert "ReservedConcurrentExecutions" not in properties, logical_id


def test_every_function_logs_to_a_declared_group_with_retention(
    sam: dict[str, Any], cfn: dict[str, Any]
) -> None:
    retention = sam["Parameters"]["FunctionLogRetentionInDays"]
    assert retention["Type"] == "Number"
    assert retention["Default"] in retention["AllowedValues"]
    functions = _lambda_functions(cfn)
    assert set(FUNCTIONS) <= set(functions)
    for logical_id in functions:
        logging = cfn["Resources"][logical_id]["Properties"].get("LoggingConfig", {})
        assert logging.get("LogGroup") == {"Ref": f"{logical_id}LogGroup"}, logical_id
        group = cfn["Resources"][f"{logical_id}LogGroup"]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["LogGroupName"] == {
            "Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{logical_id}"
        }
        assert group["Properties"]["RetentionInDays"] == {"Ref": "FunctionLogRetentionInDays"}
        # kept, on purpose, when the stack goes or the group is replaced: the audit trail
        assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("Retain", "Retain")
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] == "AWS::Logs::LogGroup":
            assert "RetentionInDays" in resource["Properties"], logical_id
            assert "DeletionPolicy" in resource, logical_id
            assert "UpdateReplacePolicy" in resource, logical_id


# --------------------------------------------------------------- dependencies


def _cfn_lint_after_transform(sam: dict[str, Any], tmp_path: Path) -> str:
    """cfn-lint's findings on the plain CloudFormation that the transform makes of ``sam``.

    cfn-lint and `sam validate --lint` on the SAM template do not see a cycle through the
    roles SAM generates; on the transformed template cfn-lint reports it as E3004.
    """
    translated = tmp_path / "translated.json"
    translated.write_text(json.dumps(_translate(sam)), encoding="utf-8")
    result = _run_tool("cfn-lint", "--format", "parseable", "--", str(translated))
    return result.stdout + result.stderr


@pytest.mark.slow
def test_no_circular_dependency_after_the_transform(sam: dict[str, Any], tmp_path: Path) -> None:
    findings = _cfn_lint_after_transform(sam, tmp_path)
    assert "E3004" not in findings, findings
    assert not re.search(r":E\d{4}:", findings), findings


@pytest.mark.slow
def test_the_dependency_check_sees_a_cycle_through_the_key_policy(
    sam: dict[str, Any], tmp_path: Path
) -> None:
    """The trap the !Sub'd ARNs avoid: a role that refs the secret its key policy guards."""
    cyclic = copy.deepcopy(sam)
    statements = cyclic["Resources"]["LoginFunction"]["Properties"]["Policies"][0]["Statement"]
    (statement,) = [s for s in statements if s["Sid"] == "ReadPrivateSigningKeys"]
    statement["Resource"] = {"Ref": "SigningKeysSecret"}
    assert "E3004" in _cfn_lint_after_transform(cyclic, tmp_path)


def test_tracing_can_be_switched_on(sam: dict[str, Any]) -> None:
    assert sam["Parameters"]["TracingMode"]["Default"] == "Disabled"
    traced = _translate(sam, {"TracingMode": "Active"})
    properties = traced["Resources"]["AuthorizerFunction"]["Properties"]
    assert properties["TracingConfig"] == {"Mode": {"Ref": "TracingMode"}}


# --------------------------------------------------------------------- API


@pytest.mark.parametrize("name", sorted(AUTHORIZERS))
def test_authorizer_is_a_cached_request_authorizer_with_simple_responses(
    sam: dict[str, Any], body: dict[str, Any], name: str
) -> None:
    auth = sam["Resources"]["AuthApi"]["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == "TokenAuthorizer"
    assert set(auth["Authorizers"]) == set(AUTHORIZERS)
    authorizer = auth["Authorizers"][name]
    assert authorizer["FunctionArn"] == {"Fn::GetAtt": [AUTHORIZERS[name], "Arn"]}
    assert authorizer["Identity"]["ReauthorizeEvery"] == {"Ref": "AuthorizerCacheTtlSeconds"}
    # the same settings as TokenAuthorizer's (its own name, function and cache)
    assert {k: v for k, v in authorizer.items() if k != "FunctionArn"} == {
        k: v for k, v in auth["Authorizers"]["TokenAuthorizer"].items() if k != "FunctionArn"
    }

    ttl = sam["Parameters"]["AuthorizerCacheTtlSeconds"]
    assert (ttl["Default"], ttl["MinValue"], ttl["MaxValue"]) == (300, 0, 3600)

    scheme = body["components"]["securitySchemes"][name]
    generated = scheme["x-amazon-apigateway-authorizer"]
    assert generated["type"] == "request"
    assert generated["authorizerPayloadFormatVersion"] == "2.0"
    assert generated["enableSimpleResponses"] is True
    assert generated["identitySource"] == ["$request.header.Authorization"]
    assert generated["authorizerResultTtlInSeconds"] == {"Ref": "AuthorizerCacheTtlSeconds"}
    assert "${__FunctionArn__}" in generated["authorizerUri"]["Fn::Sub"][0]


@pytest.mark.parametrize("function_id", sorted(AUTHORIZER_FUNCTIONS))
def test_api_gateway_may_invoke_the_authorizer(cfn: dict[str, Any], function_id: str) -> None:
    permissions = [
        resource["Properties"]
        for resource in cfn["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Permission"
        and resource["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert len(permissions) == 1
    assert permissions[0]["Principal"] == "apigateway.amazonaws.com"
    source = permissions[0]["SourceArn"]["Fn::Sub"]
    assert source[1] == {"__ApiId__": {"Ref": "AuthApi"}}
    assert source[0].endswith(":${__ApiId__}/authorizers/*")


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_route_exists_with_the_right_auth(body: dict[str, Any], method: str, path: str) -> None:
    function_id, authorizer = ROUTES[(method, path)]
    operation = body["paths"][path][method.lower()]
    integration = operation["x-amazon-apigateway-integration"]
    assert integration["payloadFormatVersion"] == "2.0"
    assert f"${{{function_id}.Arn}}" in integration["uri"]["Fn::Sub"]
    assert operation["security"] == [{authorizer or "NONE": []}]


def test_no_route_is_public_by_accident(body: dict[str, Any]) -> None:
    public = {route for route, (_fn, authorizer) in ROUTES.items() if authorizer is None}
    enrolment = {
        route
        for route, (_fn, authorizer) in ROUTES.items()
        if authorizer == "MfaEnrollmentAuthorizer"
    }
    assert enrolment == {("POST", "/auth/mfa/totp/enroll"), ("POST", "/auth/mfa/totp/confirm")}
    for path, operations in body["paths"].items():
        for method, operation in operations.items():
            route = (method.upper(), path)
            if operation.get("security") == [{"NONE": []}]:
                assert route in public, f"{method.upper()} {path} is public"
            elif route in enrolment:
                assert operation.get("security") == [{"MfaEnrollmentAuthorizer": []}], route
            else:
                # nothing else takes an enrolment token
                assert operation.get("security") == [{"TokenAuthorizer": []}], route


def test_routes_use_payload_format_2(sam: dict[str, Any]) -> None:
    for logical_id in FUNCTIONS:
        for event in sam["Resources"][logical_id]["Properties"].get("Events", {}).values():
            assert event["Type"] == "HttpApi", logical_id
            assert event["Properties"]["ApiId"] == {"Ref": "AuthApi"}, logical_id
            assert event["Properties"]["PayloadFormatVersion"] == "2.0", logical_id


def test_default_stage_is_throttled(sam: dict[str, Any], cfn: dict[str, Any]) -> None:
    stages = [r for r in cfn["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Stage"]
    assert len(stages) == 1
    stage = stages[0]["Properties"]
    assert stage["StageName"] == "$default"
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
    }
    for name in ("ThrottlingBurstLimit", "ThrottlingRateLimit"):
        assert sam["Parameters"][name]["Type"] == "Number"
        assert "MinValue" in sam["Parameters"][name]
        assert "MaxValue" in sam["Parameters"][name]
    access_log_format = stage["AccessLogSettings"]["Format"]
    for secret_bearing in ("header", "Authorization", "Cookie", "body", "querystring"):
        assert secret_bearing.lower() not in access_log_format.lower()


# ----------------------------------------------------------------- outputs


@pytest.mark.parametrize("name", OUTPUTS)
def test_output_is_exported(sam: dict[str, Any], name: str) -> None:
    output = sam["Outputs"][name]
    assert output["Export"]["Name"] == {"Fn::Sub": f"${{AWS::StackName}}-{name}"}


def test_issuer_is_the_api_url_unless_configured(sam: dict[str, Any]) -> None:
    outputs = sam["Outputs"]
    api_url = outputs["ApiUrl"]["Value"]
    assert api_url == {"Fn::Sub": "https://${AuthApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    # One value, fixed at deploy time, that the functions read (never the request's Host):
    # a secret, which CloudFormation alone writes (IssuerSecretPolicy), not a parameter.
    issuer = sam["Resources"]["IssuerSecret"]
    assert issuer["Type"] == "AWS::SecretsManager::Secret"
    # ... else the custom domain (tests/template/test_custom_domain_and_example.py).
    domain = {"Fn::If": ["HasApiDomain", {"Fn::Sub": "https://${ApiDomainName}"}, api_url]}
    fixed = {"Fn::If": ["HasJwtIssuer", {"Ref": "JwtIssuer"}, domain]}
    assert issuer["Properties"]["SecretString"] == fixed  # rewritten when JwtIssuer changes
    assert issuer["Properties"]["Name"] == {"Fn::Sub": NAMED_BY_PATTERN["IssuerSecret"][0]}
    assert "GenerateSecretString" not in issuer["Properties"]
    assert outputs["Issuer"]["Value"] == fixed
    description = " ".join(sam["Parameters"]["JwtIssuer"]["Description"].split())
    assert "request" not in description.replace("a request uses", "")
    assert "fixed when the stack is deployed" in description
    assert "IssuerSecret" in description
    assert outputs["JwksUrl"]["Value"] == {"Fn::Sub": api_url["Fn::Sub"] + "/.well-known/jwks.json"}
    assert outputs["AuthorizerFunctionArn"]["Value"] == {
        "Fn::GetAtt": ["AuthorizerFunction", "Arn"]
    }


def test_the_local_resolver_gives_the_issuer_secret_the_issuer(sam: dict[str, Any]) -> None:
    from localapi.template import LOCAL_API_ID, Resolver

    secret = sam["Resources"]["IssuerSecret"]["Properties"]["SecretString"]
    assert Resolver(sam).resolve(secret) == (
        f"https://{LOCAL_API_ID}.execute-api.us-east-1.amazonaws.com"
    )
    configured = Resolver(sam, parameter_values={"JwtIssuer": "https://auth.example.com"})
    assert configured.resolve(secret) == "https://auth.example.com"


# ------------------------------------------------------------ key rotation


def test_the_stack_rotates_the_signing_keys_on_a_schedule(
    sam: dict[str, Any], cfn: dict[str, Any]
) -> None:
    days = sam["Parameters"]["KeyRotationDays"]
    assert (days["Type"], days["Default"], days["MinValue"]) == ("Number", 30, 1)
    schedules = [
        (logical_id, resource)
        for logical_id, resource in cfn["Resources"].items()
        if resource["Type"] == "AWS::SecretsManager::RotationSchedule"
    ]
    assert len(schedules) == 1
    _logical_id, schedule = schedules[0]
    properties = schedule["Properties"]
    assert properties["SecretId"] == {"Ref": "SigningKeysSecret"}
    assert properties["RotationLambdaARN"] == {"Fn::GetAtt": [ROTATION_FUNCTION, "Arn"]}
    assert properties["RotationRules"] == {"AutomaticallyAfterDays": {"Ref": "KeyRotationDays"}}
    # created => rotated at once: the first run replaces the placeholder with real keys
    assert properties["RotateImmediatelyOnUpdate"] is True
    assert "HostedRotationLambda" not in properties
    # Secrets Manager checks at creation that it may invoke the function
    assert schedule["DependsOn"] == "KeyRotationFunctionPermission"


def test_only_secrets_manager_may_invoke_the_rotation_function_for_our_secret(
    cfn: dict[str, Any],
) -> None:
    function_arn = {"Fn::GetAtt": [ROTATION_FUNCTION, "Arn"]}
    permissions = [
        resource["Properties"]
        for resource in cfn["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Permission"
        and resource["Properties"]["FunctionName"] in (function_arn, {"Ref": ROTATION_FUNCTION})
    ]
    assert permissions == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": function_arn,
            "Principal": "secretsmanager.amazonaws.com",
            "SourceAccount": {"Ref": "AWS::AccountId"},
            "SourceArn": {"Ref": "SigningKeysSecret"},
        }
    ]


def test_rotation_function_knows_both_key_stores(cfn: dict[str, Any]) -> None:
    env = _function_env(cfn, ROTATION_FUNCTION)
    assert env["SIGNING_KEYS_SECRET_ID"] == {"Ref": "SigningKeysSecret"}
    assert env["PUBLIC_KEYS_SECRET_ID"] == {"Ref": "PublicKeysSecret"}
    # the key the signing key secret must be encrypted with (the function refuses others)
    assert env["SIGNING_KEYS_KMS_KEY_ID"] == {"Ref": "SigningKeysKey"}
    assert cfn["Resources"]["SigningKeysSecret"]["Properties"]["KmsKeyId"] == {
        "Fn::GetAtt": ["SigningKeysKey", "Arn"]
    }
    for logical_id in FUNCTIONS:
        if logical_id != ROTATION_FUNCTION:
            assert "SIGNING_KEYS_KMS_KEY_ID" not in _function_env(cfn, logical_id), logical_id
    properties = cfn["Resources"][ROTATION_FUNCTION]["Properties"]
    assert properties["Timeout"] >= 10  # Secrets Manager waits; a step is a few API calls


def test_jwks_cache_lifetime_is_far_below_the_rotation_period(
    sam: dict[str, Any], cfn: dict[str, Any]
) -> None:
    """A client that caches the JWKS for max-age still learns each key before it signs.

    A key is published (as next) one rotation period before it becomes current. The set
    reaches the jwks function after at most KEYS_REFRESH_SECONDS (3600 at most) plus the
    extension's cache (300 s by default), and a client holds it for max-age on top: all
    of it must fit in the shortest rotation period allowed, with room to spare.
    """
    max_age = sam["Parameters"]["JwksMaxAgeSeconds"]
    assert (max_age["Type"], max_age["Default"], max_age["MinValue"]) == ("Number", 3600, 0)
    keys_refresh_max, extension_ttl = 3600, 300
    shortest_period = sam["Parameters"]["KeyRotationDays"]["MinValue"] * 86400
    assert 2 * (max_age["MaxValue"] + keys_refresh_max + extension_ttl) <= shortest_period
    # the jwks function serves it; the rotation function waits it out between rotations
    for logical_id in ("JwksFunction", ROTATION_FUNCTION):
        assert _function_env(cfn, logical_id)["JWKS_MAX_AGE_SECONDS"] == {
            "Ref": "JwksMaxAgeSeconds"
        }, logical_id
    for logical_id in FUNCTIONS:
        if logical_id not in ("JwksFunction", ROTATION_FUNCTION):
            assert "JWKS_MAX_AGE_SECONDS" not in _function_env(cfn, logical_id), logical_id


def test_secret_arn_is_an_output_for_the_operator(sam: dict[str, Any]) -> None:
    assert sam["Outputs"]["SigningKeysSecretArn"]["Value"] == {"Ref": "SigningKeysSecret"}


# -------------------------------------------------------------------- CORS


def _resolved_cors(sam: dict[str, Any], allowed_origins: str) -> Any:
    """The HTTP API's CORS settings as CloudFormation resolves them for that parameter."""
    from localapi.template import NO_VALUE, Resolver

    parameters = {"AllowedOrigins": allowed_origins}
    cfn = _translate(sam, parameters)
    cors = cfn["Resources"]["AuthApi"]["Properties"]["Body"].get("x-amazon-apigateway-cors")
    resolved = Resolver(cfn, parameter_values=parameters).resolve(cors)
    return None if resolved is NO_VALUE else resolved


def test_cors_is_off_without_allowed_origins(sam: dict[str, Any]) -> None:
    assert sam["Conditions"]["HasAllowedOrigins"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AllowedOrigins"}, ""]}]
    }
    assert _resolved_cors(sam, "") is None


def test_cors_allows_exactly_the_listed_origins_with_credentials(sam: dict[str, Any]) -> None:
    cors = _resolved_cors(sam, "https://app.example.com, http://localhost:5173")
    assert cors == {
        "allowOrigins": ["https://app.example.com", "http://localhost:5173"],
        "allowCredentials": True,
        "allowMethods": ["GET", "POST", "DELETE", "OPTIONS"],
        "allowHeaders": ["authorization", "content-type"],
        "maxAge": 600,
    }


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@pytest.mark.parametrize(
    "origins", ["https://app.example.com", "https://a.example.com, http://localhost:5173"]
)
def test_a_wildcard_is_never_an_allowed_origin_with_credentials(
    sam: dict[str, Any], origins: str
) -> None:
    declared = sam["Resources"]["AuthApi"]["Properties"]["CorsConfiguration"]
    assert not any("*" in text for text in _strings(declared))
    pattern = sam["Parameters"]["AllowedOrigins"]["AllowedPattern"]
    for wildcard in ("*", "https://*.example.com", f"{origins},*", f"*, {origins}"):
        assert not re.fullmatch(pattern, wildcard), wildcard
    cors = _resolved_cors(sam, origins)
    assert cors["allowCredentials"] is True
    assert all("*" not in origin for origin in cors["allowOrigins"])


# -------------------------------------------------------------------- build


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    return int.from_bytes(header[18:20], "little")


EM_AARCH64 = 183


@pytest.mark.slow
def test_sam_build_produces_an_arm64_layer(tmp_path: Path) -> None:
    _tool("sam")  # skips, with the reason, where sam is not installed
    env = {**_tool_env(), "PYENV_VERSION": "3.13.0"}
    python313 = shutil.which("python3.13", path=env.get("PATH"))
    if python313 is None or (
        subprocess.run([python313, "-c", "pass"], env=env, capture_output=True).returncode != 0
    ):
        pytest.skip("sam build needs python3.13 on PATH (PYENV_VERSION=3.13.0 was tried)")
    missing = [
        f"functions/{folder}/app.py"
        for folder in FUNCTIONS.values()
        if not (ROOT / "functions" / folder / "app.py").exists()
    ]
    if missing:
        pytest.skip(f"handlers not written yet: {', '.join(missing)}")

    build_dir = tmp_path / "build"
    # `make build` is the supported build: sam build, then the bytecode Lambda cannot write.
    result = subprocess.run(
        ["make", "-s", "build", f"BUILD_DIR={build_dir}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    for logical_id in FUNCTIONS:
        assert (build_dir / logical_id / "app.py").is_file(), logical_id
    site = build_dir / "SharedLayer" / "python"
    assert (site / "stateless_auth" / "__init__.py").is_file()

    libraries = sorted(site.rglob("*.so"))
    assert any(p.parent.name == "bindings" and "cryptography" in p.parts for p in libraries)
    for library in libraries:
        assert _elf_machine(library) == EM_AARCH64, library
        match = re.search(r"\.cpython-(\d+)-", library.name)
        assert match is None or match.group(1) == "313", library
    wheel_tags = (next(site.glob("cryptography-*.dist-info")) / "WHEEL").read_text()
    assert "aarch64" in wheel_tags

    # Compiled bytecode ships for the runtime's Python, hash-based (flags 1: unchecked),
    # for our package, its dependencies and every handler.
    compiled = [
        site / "stateless_auth" / "tokens" / "__pycache__" / "access.cpython-313.pyc",
        site / "jwt" / "__pycache__" / "api_jws.cpython-313.pyc",
        site / "aws_lambda_powertools" / "__pycache__" / "__init__.cpython-313.pyc",
        *(
            build_dir / logical_id / "__pycache__" / "app.cpython-313.pyc"
            for logical_id in FUNCTIONS
        ),
    ]
    for pyc in compiled:
        assert pyc.is_file(), pyc
        assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 1, pyc
