"""The operations layer: the alarm topic, the alarms derived from the declaration, the dashboard
and the outputs a platform team needs."""

from __future__ import annotations

import json
import typing
from typing import Any

from tests.infrastructure import monitoring_assertions
from tests.infrastructure.synthesis import Synthesized
from tests.support.lambdas import load_function
from tidings.app import APPLICATION
from tidings.notifications.wire import DeviceTokenRegistration
from tidings_infra import names
from tidings_infra.monitoring import PUSH_PLATFORMS


def _alarm(synthesized: Synthesized, name: str) -> dict[str, Any]:
    return monitoring_assertions.alarms_by_name(synthesized.resources)[name]


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(synthesized: Synthesized) -> None:
    resources = synthesized.resources
    topic_id = monitoring_assertions.only_logical_id(resources, "AWS::SNS::Topic")
    key_id = monitoring_assertions.only_logical_id(resources, "AWS::KMS::Key", f"{names.MONITORING_CONSTRUCT}.*")
    # Not the AWS-managed alias/aws/sns key: CloudWatch cannot be granted its use.
    assert resources[topic_id]["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    key = resources[key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    (for_cloudwatch,) = [
        s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert set(for_cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert for_cloudwatch["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert ":alarm:*" in json.dumps(for_cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"])

    (policy,) = synthesized.of_type("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    publish = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert [(s["Effect"], s["Action"]) for s in publish] == [("Allow", "sns:Publish")]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )


def test_every_failure_queue_consumer_and_function_has_its_alarms(synthesized: Synthesized) -> None:
    monitoring_assertions.assert_alarms_cover(APPLICATION, synthesized.resources)


def test_the_authorizer_alarms_on_its_error_rate_not_on_each_unauthorized(synthesized: Synthesized) -> None:
    alarm = _alarm(synthesized, f"{APPLICATION.authorizer.function.id}Errors")
    (expression,) = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
    assert "errors / invocations" in expression
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m} == {
        "Errors",
        "Invocations",
    }


def test_the_push_alarm_is_on_the_push_workers_own_metric_names(synthesized: Synthesized) -> None:
    worker = load_function("notifications/push_worker.py")
    assert set(PUSH_PLATFORMS) == {
        "webpush",
        *typing.get_args(DeviceTokenRegistration.model_fields["platform"].annotation),
    }
    alarm = _alarm(synthesized, "PushDeliveryRate")
    metric_names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    outcomes = {
        worker.METRIC_NAMES[o] for o in (worker.PushOutcome.SENT, worker.PushOutcome.FAILED, worker.PushOutcome.GAVE_UP)
    }
    assert metric_names == {f"{outcome}.{platform}" for outcome in outcomes for platform in PUSH_PLATFORMS}
    for metric in alarm["Metrics"]:
        if "MetricStat" in metric:
            assert (
                metric["MetricStat"]["Metric"]["Namespace"] == names.COMMON_ENVIRONMENT["POWERTOOLS_METRICS_NAMESPACE"]
            )
            assert metric["MetricStat"]["Metric"]["Dimensions"] == [
                {"Name": "service", "Value": names.COMMON_ENVIRONMENT["POWERTOOLS_SERVICE_NAME"]}
            ]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 0.9)


def test_the_dashboard_plots_the_key_metrics(synthesized: Synthesized) -> None:
    (dashboard,) = synthesized.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in (
        "ConnectionsOpened",
        "ConnectionsClosed",
        "ConnectCount",
        "DeliveryLatency",
        "FramesDelivered",
        "NotificationsDeferred",
        "NotificationsRetried",
        "SearchLatency",
        "IteratorAge",
        "ApproximateNumberOfMessagesVisible",
        "IntegrationError",
        "ExecutionError",
        "ClientError",
        "MessageCount",
        "PushSent.webpush",
        "PushFailed.apns",
    ):
        assert f'\\"{metric}\\"' in body, metric
    assert "p99" in body
    for subscription in APPLICATION.stream_subscriptions:  # consumer lag, one line each
        function_id = synthesized.logical_id(synthesized.stack.functions.function(subscription.function))
        assert function_id in body, subscription.function.id
    for queue_name in monitoring_assertions.failure_queue_names(APPLICATION):
        assert monitoring_assertions.queue_logical_id(synthesized.resources, queue_name) in body, queue_name


def test_outputs_name_every_table_the_secrets_the_alarm_topic_and_the_dashboard(synthesized: Synthesized) -> None:
    outputs = synthesized.template.find_outputs("*")
    stack = synthesized.stack
    for table in APPLICATION.tables:
        table_id = synthesized.logical_id(stack.tables.table(table))
        assert outputs[f"{table.id}TableName"]["Value"] == {"Ref": table_id}
    for secret in APPLICATION.secrets:
        secret_id = synthesized.logical_id(stack.secrets.secret(secret))
        assert outputs[f"{secret.id}SecretArn"]["Value"] == {"Ref": secret_id}
    topic_id = monitoring_assertions.only_logical_id(synthesized.resources, "AWS::SNS::Topic")
    assert outputs[names.OUTPUT_ALARM_TOPIC_ARN]["Value"] == {"Ref": topic_id}
    dashboard_id = monitoring_assertions.only_logical_id(synthesized.resources, "AWS::CloudWatch::Dashboard")
    url = json.dumps(outputs[names.OUTPUT_DASHBOARD_URL]["Value"])
    assert "console.aws.amazon.com/cloudwatch" in url and "#dashboards/dashboard/" in url
    assert json.dumps({"Ref": dashboard_id}) in url
    assert {names.OUTPUT_WEBSOCKET_URL, names.OUTPUT_CALLBACK_URL, names.OUTPUT_HTTP_API_URL} <= set(outputs)
