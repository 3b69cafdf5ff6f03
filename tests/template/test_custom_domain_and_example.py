"""The optional custom domain of template.yaml (ApiDomainName, docs/deploy.md "Custom
domain") and the example stack examples/protected-api (README "Protect your own API").

The domain's resources exist only under their conditions, and the issuer follows the
domain unless JwtIssuer is set; evaluated with the local API's resolver (the template as
written) and checked in SAM's translation."""

from __future__ import annotations

from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from localapi.template import Resolver, load_template
from tests.support.paths import ROOT, TEMPLATE
from tests.template.test_template import _run_tool, _translate

EXAMPLE = ROOT / "examples" / "protected-api" / "template.yaml"
DOMAIN = {"ApiDomainName": "auth.example.com"}
CERTIFICATE = {
    "ApiCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0f4c1a2b-1111-2222-3333-444455556666"
}
ZONE = {"ApiHostedZoneId": "Z0123456789ABCDEFGHIJ"}
DOMAIN_RESOURCES = {
    "ApiDomain": "HasApiDomain",
    "ApiDomainMapping": "HasApiDomain",
    "ApiDomainRecord": "HasApiDomainRecord",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def _resolver(template: dict[str, Any], **values: str) -> Resolver:
    return Resolver(template, stack_name="stateless-auth", parameter_values=values)


def _issuer(template: dict[str, Any], **values: str) -> tuple[str, str]:
    """IssuerSecret's value and the Issuer output, as deployed with ``values``."""
    resolver = _resolver(template, **values)
    secret = template["Resources"]["IssuerSecret"]["Properties"]["SecretString"]
    output = template["Outputs"]["Issuer"]["Value"]
    return resolver.resolve_string(secret), resolver.resolve_string(output)


def test_the_domain_resources_exist_only_under_their_conditions(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for logical_id, condition in DOMAIN_RESOURCES.items():
        assert resources[logical_id]["Condition"] == condition
    assert resources["ApiDomain"]["Type"] == "AWS::ApiGatewayV2::DomainName"
    assert resources["ApiDomainMapping"]["Properties"]["ApiId"] == {"Ref": "AuthApi"}
    assert resources["ApiDomainRecord"]["Properties"]["AliasTarget"]["DNSName"] == {
        "Fn::GetAtt": ["ApiDomain", "RegionalDomainName"]
    }
    config = resources["ApiDomain"]["Properties"]["DomainNameConfigurations"][0]
    assert config["SecurityPolicy"] == "TLS_1_2"
    assert config["EndpointType"] == "REGIONAL"
    cases = [({}, False, False), (DOMAIN | CERTIFICATE, True, False)]
    cases += [(DOMAIN | CERTIFICATE | ZONE, True, True), (ZONE, False, False)]
    for values, domain, record in cases:
        resolver = _resolver(template, **values)
        assert resolver.condition("HasApiDomain") is domain, values
        assert resolver.condition("HasApiDomainRecord") is record, values


def test_a_domain_needs_a_certificate(template: dict[str, Any]) -> None:
    rule = template["Rules"]["ApiDomainNeedsCertificate"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ApiDomainName"}, ""]}]}
    assert rule["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ApiCertificateArn"}, ""]}]
    }


def test_the_issuer_follows_the_domain_unless_jwt_issuer_is_set(template: dict[str, Any]) -> None:
    default = "https://localapi.execute-api.us-east-1.amazonaws.com"
    assert _issuer(template) == (default, default)
    domain = "https://auth.example.com"
    assert _issuer(template, **DOMAIN, **CERTIFICATE) == (domain, domain)
    fixed = "https://id.example.com"
    assert _issuer(template, **DOMAIN, **CERTIFICATE, JwtIssuer=fixed) == (fixed, fixed)
    outputs = template["Outputs"]
    assert outputs["ApiDomainUrl"]["Condition"] == "HasApiDomain"
    assert _resolver(template, **DOMAIN).resolve_string(outputs["ApiDomainUrl"]["Value"]) == domain


def test_sam_translates_the_domain_with_its_mapping_to_the_default_stage() -> None:
    sam = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    cfn = _translate(sam, {**DOMAIN, **CERTIFICATE, **ZONE})
    resources = cfn["Resources"]
    assert resources["ApiDomainMapping"]["DependsOn"] == "AuthApiApiGatewayDefaultStage"
    assert resources["AuthApiApiGatewayDefaultStage"]["Properties"]["StageName"] == "$default"
    for logical_id, condition in DOMAIN_RESOURCES.items():
        assert resources[logical_id]["Condition"] == condition


# ---------------------------------------------------------------- the example stack


def test_the_example_imports_the_exported_authorizer(template: dict[str, Any]) -> None:
    example = load_template(EXAMPLE)
    export = template["Outputs"]["AuthorizerFunctionArn"]["Export"]["Name"]
    assert export == {"Fn::Sub": "${AWS::StackName}-AuthorizerFunctionArn"}
    imported = {"Fn::ImportValue": {"Fn::Sub": "${AuthStackName}-AuthorizerFunctionArn"}}
    api = example["Resources"]["ProtectedApi"]["Properties"]
    authorizer = api["Auth"]["Authorizers"]["StatelessAuth"]
    assert authorizer["FunctionArn"] == imported
    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["EnableSimpleResponses"] is True
    assert authorizer["Identity"]["Headers"] == ["Authorization"]
    permission = example["Resources"]["ProtectedApiAuthorizerPermission"]
    assert permission["Type"] == "AWS::Lambda::Permission"
    assert permission["Properties"]["FunctionName"] == imported
    assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    assert "${ProtectedApi}/authorizers/*" in permission["Properties"]["SourceArn"]["Fn::Sub"]


def test_the_example_validates() -> None:
    result = _run_tool("sam", "validate", "--lint", "--template-file", str(EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr
    result = _run_tool("cfn-lint", str(EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr
