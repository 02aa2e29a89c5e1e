"""Assertions that the alarms cover what an application declares, on any synthesized template
(the real application and the declaration variants), reading only the template."""

from __future__ import annotations

import re
from typing import Any

from tidings.kernel.declaration import Application, Function
from tidings_infra import names
from tidings_infra.monitoring import ITERATOR_AGE_THRESHOLD_SECONDS

Resources = dict[str, dict[str, Any]]


def alarms_by_name(resources: Resources) -> dict[str, dict[str, Any]]:
    """Alarm properties by alarm name without the stack prefix (`FanoutIteratorAge`)."""
    prefix = f"{names.STACK_NAME}-"
    return {
        r["Properties"]["AlarmName"].removeprefix(prefix): r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }


def only_logical_id(resources: Resources, resource_type: str, pattern: str = ".*") -> str:
    matches = [k for k, r in resources.items() if r["Type"] == resource_type and re.fullmatch(pattern, k)]
    assert len(matches) == 1, (resource_type, pattern, matches)
    return matches[0]


def queue_logical_id(resources: Resources, queue_name: str) -> str:
    return only_logical_id(resources, "AWS::SQS::Queue", f"{names.QUEUES_CONSTRUCT}{queue_name}[0-9A-F]{{8}}")


def function_logical_id(resources: Resources, declared: Function) -> str:
    matches = [
        k
        for k, r in resources.items()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"]["Handler"] == declared.handler
        and r["Properties"].get("Description") == declared.description
    ]
    assert len(matches) == 1, (declared.id, matches)
    return matches[0]


def metric_dimensions(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metric's dimensions in an alarm, a plain one or a metric-math one."""
    if "Dimensions" in alarm:
        return [{d["Name"]: d["Value"] for d in alarm["Dimensions"]}]
    return [
        {d["Name"]: d["Value"] for d in m["MetricStat"]["Metric"].get("Dimensions", [])}
        for m in alarm["Metrics"]
        if "MetricStat" in m
    ]


def failure_queue_names(application: Application) -> set[str]:
    on_failure = (*application.stream_subscriptions, *application.schedules, *application.bucket_subscriptions)
    return {s.on_failure.id for s in on_failure} | {
        f"{q.id}Dlq" for q in application.queues if q.dead_letter_after is not None
    }


def assert_alarms_cover(application: Application, resources: Resources) -> None:
    alarms = alarms_by_name(resources)
    topic = {"Ref": only_logical_id(resources, "AWS::SNS::Topic")}
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [topic], name
        assert alarm["OKActions"] == [topic], name
        assert alarm["TreatMissingData"] == "notBreaching", name

    # Every queue holding failures, and no work queue, alarms as soon as it holds a message.
    expected_queues = failure_queue_names(application)
    assert {n.removesuffix("NotEmpty") for n in alarms if n.endswith("NotEmpty")} == expected_queues
    for queue_name in expected_queues:
        alarm = alarms[f"{queue_name}NotEmpty"]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
        assert metric_dimensions(alarm) == [
            {"QueueName": {"Fn::GetAtt": [queue_logical_id(resources, queue_name), "QueueName"]}}
        ]
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)

    # Every stream consumer alarms on its lag, before its records start being discarded.
    for subscription in application.stream_subscriptions:
        alarm = alarms[f"{subscription.function.id}IteratorAge"]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/Lambda", "IteratorAge", "Maximum")
        assert metric_dimensions(alarm) == [
            {"FunctionName": {"Ref": function_logical_id(resources, subscription.function)}}
        ]
        expected_seconds = min(ITERATOR_AGE_THRESHOLD_SECONDS, subscription.max_record_age_seconds // 2)
        assert alarm["Threshold"] == expected_seconds * 1000
        assert alarm["Threshold"] < subscription.max_record_age_seconds * 1000

    # Every function alarms on its errors and its throttles.
    for declared in application.functions:
        function = {"FunctionName": {"Ref": function_logical_id(resources, declared)}}
        for kind in ("Errors", "Throttles"):
            alarm = alarms[f"{declared.id}{kind}"]
            assert function in metric_dimensions(alarm), (declared.id, kind)

    # The WebSocket API's integration and execution errors, by ApiId and Stage.
    api_id = only_logical_id(resources, "AWS::ApiGatewayV2::Api", f"{names.WEBSOCKET_CONSTRUCT}.*")
    for metric in ("IntegrationError", "ExecutionError"):
        alarm = alarms[f"WebSocket{metric}"]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApiGateway", metric)
        assert metric_dimensions(alarm) == [{"ApiId": {"Ref": api_id}, "Stage": names.STAGE_NAME}]
