"""The alarms of template.yaml (docs/operations.md): errors and throttles of every
function and the API's 5xx (AWS's own metrics), the application metrics the functions
emit (Powertools EMF: namespace MetricsNamespace, dimension `service`), the mail
dead-letter queue's depth; one SNS topic, an optional email subscription."""

from __future__ import annotations

import re
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from localapi.template import Resolver, load_template
from tests.support.paths import ROOT, TEMPLATE
from tests.template.test_template import FUNCTIONS, _translate

ALARM = "AWS::CloudWatch::Alarm"
TOPIC = {"Ref": "AlarmTopic"}
RUNBOOK = ROOT / "docs" / "operations.md"

# metric -> (alarm, the threshold: a number, or the parameter that holds it)
APPLICATION_ALARMS: dict[str, tuple[str, Any]] = {
    "RefreshTokenReuse": ("RefreshTokenReuseAlarm", 0),
    "LoginFailed": ("LoginFailedAlarm", "LoginFailedAlarmThreshold"),
    "LockoutStarted": ("LockoutStartedAlarm", "LockoutStartedAlarmThreshold"),
    "KeysUnavailable": ("KeysUnavailableAlarm", 0),
    "DependencyUnavailable": ("DependencyUnavailableAlarm", 0),
    "EmailFailed": ("EmailFailedAlarm", 0),
}
# Alarms on an event, not a state: the next quiet period says nothing about it.
NO_OK_ACTIONS = {"RefreshTokenReuseAlarm"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == ALARM
    }


def _dimensions(alarm: dict[str, Any]) -> dict[str, Any]:
    return {dimension["Name"]: dimension["Value"] for dimension in alarm["Dimensions"]}


def _emitted_metrics() -> set[str]:
    """Every metric name the code adds with a literal name."""
    sources = [*(ROOT / "functions").glob("*/app.py")]
    sources += [*(ROOT / "layers" / "shared" / "stateless_auth").rglob("*.py")]
    pattern = re.compile(r'add_metric\(\s*name="(\w+)"')
    return {name for path in sources for name in pattern.findall(path.read_text("utf-8"))}


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for heading in re.findall(r"^#+ +(.+?) *$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_its_errors_and_throttles_alarm(
    template: dict[str, Any], function_id: str, metric: str
) -> None:
    alarm = _alarms(template)[f"{function_id}{metric}Alarm"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", metric)
    assert _dimensions(alarm) == {"FunctionName": {"Ref": function_id}}
    assert alarm["Statistic"] == "Sum"
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "GreaterThanOrEqualToThreshold",
        1,
    )
    assert alarm["TreatMissingData"] == "notBreaching"


def test_every_lambda_function_is_watched(template: dict[str, Any]) -> None:
    functions = {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    watched = {
        _dimensions(alarm)["FunctionName"]["Ref"]
        for alarm in _alarms(template).values()
        if alarm["Namespace"] == "AWS/Lambda"
    }
    assert watched == functions == set(FUNCTIONS)


def test_the_rotation_function_errors_are_alarmed(template: dict[str, Any]) -> None:
    alarm = _alarms(template)["KeyRotationFunctionErrorsAlarm"]
    assert _dimensions(alarm) == {"FunctionName": {"Ref": "KeyRotationFunction"}}
    assert alarm["MetricName"] == "Errors"


def test_the_api_5xx_alarm_watches_the_default_stage(template: dict[str, Any]) -> None:
    alarm = _alarms(template)["ApiServerErrorsAlarm"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApiGateway", "5xx")
    assert _dimensions(alarm) == {"ApiId": {"Ref": "AuthApi"}, "Stage": "$default"}
    assert alarm["Threshold"] == 1
    assert alarm["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("metric", sorted(APPLICATION_ALARMS))
def test_each_application_metric_has_its_alarm_as_powertools_publishes_it(
    template: dict[str, Any], metric: str
) -> None:
    alarm_id, threshold = APPLICATION_ALARMS[metric]
    alarm = _alarms(template)[alarm_id]
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    # The namespace the functions publish in, and Powertools' one dimension: the service.
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}
    assert alarm["Namespace"] == {"Ref": "MetricsNamespace"}
    assert alarm["MetricName"] == metric
    assert _dimensions(alarm) == {"service": variables["POWERTOOLS_SERVICE_NAME"]}
    assert alarm["Statistic"] == "Sum"
    assert alarm["TreatMissingData"] == "notBreaching"  # published only when it happens
    if isinstance(threshold, str):
        assert alarm["Threshold"] == {"Ref": threshold}
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        parameter = template["Parameters"][threshold]
        assert parameter["Type"] == "Number"
        assert int(parameter["Default"]) >= int(parameter["MinValue"]) >= 1
    else:
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert metric in _emitted_metrics(), f"no function emits {metric}"


def test_the_spike_thresholds_have_sensible_defaults(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    lockouts = int(parameters["LockoutStartedAlarmThreshold"]["Default"])
    failures = int(parameters["LoginFailedAlarmThreshold"]["Default"])
    # Each lock-out takes MaxFailedLogins failures: the failure spike is the wider net.
    assert failures >= lockouts * int(parameters["MaxFailedLogins"]["Default"])


def test_the_dead_letter_queue_depth_is_alarmed_above_zero(template: dict[str, Any]) -> None:
    alarm = _alarms(template)["MailDeadLetterQueueAlarm"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert _dimensions(alarm) == {"QueueName": {"Fn::GetAtt": ["MailDeadLetterQueue", "QueueName"]}}
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["Statistic"] == "Maximum"


def test_every_alarm_notifies_the_topic(template: dict[str, Any]) -> None:
    alarms = _alarms(template)
    assert len(alarms) == 2 * len(FUNCTIONS) + len(APPLICATION_ALARMS) + 2
    for logical_id, alarm in alarms.items():
        assert alarm["AlarmActions"] == [TOPIC], logical_id
        if logical_id in NO_OK_ACTIONS:
            assert "OKActions" not in alarm, logical_id
        else:
            assert alarm["OKActions"] == [TOPIC], logical_id
        assert "InsufficientDataActions" not in alarm, logical_id
        assert (alarm["Period"], alarm["EvaluationPeriods"]) == (300, 1), logical_id


def test_every_alarm_points_at_its_runbook_entry(template: dict[str, Any]) -> None:
    anchors = _anchors(RUNBOOK.read_text(encoding="utf-8"))
    for logical_id, alarm in _alarms(template).items():
        links = re.findall(r"docs/operations\.md#([\w-]+)", alarm["AlarmDescription"])
        assert links, logical_id
        assert set(links) <= anchors, (logical_id, links)


def test_the_topic_is_the_only_one_and_the_subscription_needs_alarm_email(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    topics = [i for i, r in resources.items() if r["Type"] == "AWS::SNS::Topic"]
    assert topics == ["AlarmTopic"]
    subscriptions = [i for i, r in resources.items() if r["Type"] == "AWS::SNS::Subscription"]
    assert subscriptions == ["AlarmEmailSubscription"]
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {
        "TopicArn": TOPIC,
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    for values, subscribed in (({}, False), ({"AlarmEmail": "ops@example.com"}, True)):
        resolver = Resolver(template, stack_name="stateless-auth", parameter_values=values)
        assert resolver.condition("HasAlarmEmail") is subscribed, values


def test_alarm_email_takes_one_address_or_nothing(template: dict[str, Any]) -> None:
    pattern = re.compile(template["Parameters"]["AlarmEmail"]["AllowedPattern"])
    for good in ("", "ops@example.com", "a.b+alarms@sub.example.org"):
        assert pattern.fullmatch(good), good
    for bad in ("ops", "ops@example", "a@b.c, d@e.f", "ops @example.com", " "):
        assert not pattern.fullmatch(bad), bad


def test_the_topic_arn_is_an_output(template: dict[str, Any]) -> None:
    output = template["Outputs"]["AlarmTopicArn"]
    assert output["Value"] == TOPIC


def test_the_alarms_name_what_sam_translates(template: dict[str, Any]) -> None:
    """Each alarm's function, API and stage exist after the transform, under those ids."""
    sam = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    cfn = _translate(sam, {"AlarmEmail": "ops@example.com"})
    resources = cfn["Resources"]
    for logical_id, resource in resources.items():
        if resource["Type"] != ALARM:
            continue
        for value in _dimensions(resource["Properties"]).values():
            if isinstance(value, dict) and "Ref" in value:
                assert value["Ref"] in resources, (logical_id, value)
        if resource["Properties"]["Namespace"] == "AWS/Lambda":
            target = _dimensions(resource["Properties"])["FunctionName"]["Ref"]
            assert resources[target]["Type"] == "AWS::Lambda::Function", logical_id
    assert resources["AuthApi"]["Type"] == "AWS::ApiGatewayV2::Api"
    assert resources["AuthApiApiGatewayDefaultStage"]["Properties"]["StageName"] == "$default"
    assert resources["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"
