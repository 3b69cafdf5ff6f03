"""What template.yaml does not use, the local API refuses at start-up, naming the resource
and the property: it never serves a template differently from AWS without saying so.

Each case below changes a small template that the local API serves (``BASE``) in one way;
the real template.yaml must be served cleanly (so adding something the local API does not
implement to it fails ``test_the_real_template_starts_cleanly``).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from localapi.aws import create_tables_from_template
from localapi.model import build_app_spec
from localapi.template import Resolver, TemplateError, load_template, parse_template
from localapi.testing import LocalApiFailed, running_local_api
from tests.support.paths import LOCALAPI_FIXTURES as FIXTURES
from tests.support.paths import ROOT, TEMPLATE

BASE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting: {Type: String, Default: hello}
Conditions:
  HasGreeting: !Not [!Equals [!Ref Greeting, ""]]
Globals:
  Function:
    Runtime: python3.13
    Handler: app.lambda_handler
    Environment:
      Variables:
        GREETING: !If [HasGreeting, !Ref Greeting, !Ref AWS::NoValue]
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration: !If
        - HasGreeting
        - {AllowOrigins: [https://app.example.com], AllowMethods: [GET]}
        - !Ref AWS::NoValue
      Auth:
        DefaultAuthorizer: Tokens
        Authorizers:
          Tokens:
            FunctionArn: !GetAtt AuthorizerFunction.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity: {Headers: [Authorization]}
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo/
      Environment:
        Variables:
          TABLE: !Ref Table
      Events:
        Get:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: GET, Path: /echo, PayloadFormatVersion: "2.0"}
  AuthorizerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/authorizer/
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      BillingMode: PAY_PER_REQUEST
  Secret:
    Type: AWS::SecretsManager::Secret
    Properties:
      SecretString: "{}"
"""


def serve(text: str) -> Any:
    template = parse_template(text)
    return build_app_spec(template, FIXTURES, Resolver(template))


def changed(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def test_the_small_template_is_served() -> None:
    app = serve(BASE)
    assert [route.route_key for route in app.routes] == ["GET /echo"]
    assert app.routes[0].authorizer is not None
    assert app.cors is not None


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # intrinsics and condition functions
        (
            "TABLE: !Ref Table",
            "TABLE: !Cidr [10.0.0.0/16, 2, 8]",
            "EchoFunction.Environment.Variables.TABLE uses Fn::Cidr",
        ),
        (
            "TABLE: !Ref Table",
            "TABLE: !Base64 x",
            "EchoFunction.Environment.Variables.TABLE uses Fn::Base64",
        ),
        # Fn::And is implemented (template.yaml's HasApiDomainRecord).
        (
            'HasGreeting: !Not [!Equals [!Ref Greeting, ""]]',
            'HasGreeting: !Or [!Equals [!Ref Greeting, ""], {Condition: Other}]',
            "Conditions.HasGreeting uses Fn::Or",
        ),
        (
            "Resources:\n",
            "Outputs:\n  Zones: {Value: !Join [',', !GetAZs '']}\nResources:\n",
            "Outputs.Zones.Value.Fn::Join[1] uses Fn::GetAZs",
        ),
        (
            "Greeting: {Type: String, Default: hello}",
            "Greeting: {Type: CommaDelimitedList, Default: hello}",
            "parameter Greeting: Type CommaDelimitedList",
        ),
        # the authorizer: simple responses, payload 2.0, Lambda only
        (
            "EnableSimpleResponses: true",
            "EnableSimpleResponses: false",
            "Api.Auth.Authorizers.Tokens.EnableSimpleResponses is 'false'",
        ),
        (
            'AuthorizerPayloadFormatVersion: "2.0"',
            'AuthorizerPayloadFormatVersion: "1.0"',
            "Api.Auth.Authorizers.Tokens.AuthorizerPayloadFormatVersion is '1.0'",
        ),
        (
            "Identity: {Headers: [Authorization]}",
            "Identity: {Headers: [Authorization], QueryStrings: [token]}",
            "Api.Auth.Authorizers.Tokens.Identity.QueryStrings is not implemented",
        ),
        (
            "FunctionArn: !GetAtt AuthorizerFunction.Arn",
            "JwtConfiguration: {issuer: https://example.com}",
            "Api.Auth.Authorizers.Tokens.JwtConfiguration is not implemented",
        ),
        # route events
        (
            "Type: HttpApi",
            "Type: Api",
            "EchoFunction.Events.Get.Type 'Api' is not implemented by the local API",
        ),
        (
            'PayloadFormatVersion: "2.0"}',
            'PayloadFormatVersion: "1.0"}',
            "EchoFunction.Events.Get.Properties.PayloadFormatVersion is '1.0'",
        ),
        (
            'PayloadFormatVersion: "2.0"}',
            'PayloadFormatVersion: "2.0", TimeoutInMillis: 500}',
            "EchoFunction.Events.Get.Properties.TimeoutInMillis is not implemented",
        ),
        # resources and their properties
        (
            "  Secret:\n",
            "  Rule:\n    Type: AWS::Events::Rule\n  Secret:\n",
            "Rule: resource type AWS::Events::Rule is neither emulated nor knowingly left out",
        ),
        (
            "BillingMode: PAY_PER_REQUEST",
            "BillingMode: PAY_PER_REQUEST\n      StreamSpecification: {StreamViewType: KEYS_ONLY}",
            "Table.StreamSpecification is not implemented",
        ),
        (
            "  Secret:\n    Type: AWS::SecretsManager::Secret\n",
            "  Secret:\n    Type: AWS::SecretsManager::Secret\n    Condition: HasGreeting\n",
            "Secret.Condition is not implemented",
        ),
        (
            "      CodeUri: functions/authorizer/",
            "      CodeUri: functions/authorizer/\n      FunctionUrlConfig: {AuthType: NONE}",
            "AuthorizerFunction.FunctionUrlConfig is not implemented",
        ),
        (
            "Globals:\n",
            "Globals:\n  HttpApi:\n    CorsConfiguration: true\n",
            "Globals.HttpApi is not implemented",
        ),
        (  # in the branch of an !If that the default parameters do not take
            "AllowMethods: [GET]}",
            "AllowMethods: [GET], ExposeHeaders: [x-a]}",
            "Api.CorsConfiguration.ExposeHeaders is not implemented",
        ),
        (
            "Runtime: python3.13",
            "Runtime: nodejs22.x",
            "Function.Runtime 'nodejs22.x' is not implemented",  # from Globals
        ),
        (
            "TABLE: !Ref Table",
            "TABLE: !GetAtt Table.StreamArn",
            "EchoFunction.Environment.Variables: !GetAtt Table.StreamArn: only .Arn",
        ),
        (
            "  Secret:\n",
            "  Other:\n    Type: AWS::Serverless::HttpApi\n  Secret:\n",
            "the local API serves one AWS::Serverless::HttpApi",
        ),
    ],
)
def test_what_the_local_api_does_not_implement_stops_it(old: str, new: str, message: str) -> None:
    with pytest.raises(TemplateError) as raised:
        serve(changed(old, new))
    assert message in str(raised.value)


def test_a_table_that_is_not_pay_per_request_is_refused(
    moto_session: boto3.session.Session,
) -> None:
    template = parse_template(changed("BillingMode: PAY_PER_REQUEST", "BillingMode: PROVISIONED"))
    with pytest.raises(TemplateError, match=r"Table.BillingMode PROVISIONED is not implemented"):
        create_tables_from_template(template, moto_session.client("dynamodb"))


def test_the_refusal_stops_python_m_localapi_with_the_reason(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(changed("TABLE: !Ref Table", "TABLE: !Base64 x"))
    with (
        pytest.raises(LocalApiFailed, match=r"cannot start: EchoFunction\..* uses Fn::Base64"),
        running_local_api(template=template, timeout=60),
    ):
        pass


def test_the_real_template_starts_cleanly() -> None:
    """Everything template.yaml uses is implemented: the local API starts on it in this
    process (every handler imported, the first keys created) and stops cleanly."""
    from localapi.server import LocalApi, local_parameter_values

    before = dict(os.environ)
    log = io.StringIO()
    api = LocalApi(TEMPLATE, port=0, log=log, process_environ={}).start()
    try:
        assert api.app is not None
        assert {route.route_key for route in api.app.routes} >= {"POST /auth/login", "GET /me"}
        assert set(api.functions) >= {"AuthorizerFunction", "LoginFunction"}
        assert "route GET /me -> MeFunction (authorizer TokenAuthorizer)" in log.getvalue()
        assert (
            "queue MailQueue -> MailerFunction (MailerEventSource; batch size 10, "
            "ReportBatchItemFailures)" in log.getvalue()
        )
        assert [poller.mapping.logical_id for poller in api.pollers] == ["MailerEventSource"]
        assert api.wait_for_mail_jobs(5)
    finally:
        api.close()
    assert dict(os.environ) == before
    template = load_template(TEMPLATE)  # and with CORS on
    local = local_parameter_values(template, {}, "http://127.0.0.1:3000")
    resolver = Resolver(
        template, parameter_values={**local, "AllowedOrigins": "https://app.example.com"}
    )
    assert build_app_spec(template, ROOT, resolver).cors is not None
