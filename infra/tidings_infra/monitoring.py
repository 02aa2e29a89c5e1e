"""What a platform team watches in production: alarms to an encrypted SNS topic, and a dashboard.

Everything is derived from the application declaration: every failure queue and dead-letter
queue, every stream consumer and every function gets its alarm without an edit here. The
application's own metrics are the Powertools EMF metrics the handlers emit (namespace and
`service` dimension from `names.COMMON_ENVIRONMENT`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from tidings.kernel.declaration import Application, Function, Queue
from tidings_infra import names
from tidings_infra.queues import QueuesConstruct

# --- thresholds (each the alert threshold a platform team starts from) --------------------

# Consumer lag: the age of the newest record a stream consumer has read. Chat delivery is
# meant to take well under a second, so a minute behind is an incident. A consumer that drops
# records older than its `max_record_age_seconds` (presence: 60 s, after which a change is
# stale news) alarms at half that age, before it starts discarding.
ITERATOR_AGE_THRESHOLD_SECONDS = 60
# Push: alarm when fewer than 90% of the attempts that ended (sent, failed for good, gave up
# after the retries) were sent, over a window with enough pushes to mean something.
PUSH_SUCCESS_RATIO_THRESHOLD = 0.9
PUSH_MINIMUM_ATTEMPTS = 10
# The push platforms, each a suffix of the push worker's metric names (`PushSent.webpush`).
PUSH_PLATFORMS = ("webpush", "fcm", "apns")
# The authorizer answers a connect without any token by raising `Unauthorized` (API Gateway's
# contract for a 401), which Lambda counts as an error; so its alarm is on the error *rate*.
AUTHORIZER_ERROR_RATIO_THRESHOLD = 0.5
AUTHORIZER_MINIMUM_INVOCATIONS = 20

_ONE_MINUTE = Duration.minutes(1)
_FIVE_MINUTES = Duration.minutes(5)
_FIFTEEN_MINUTES = Duration.minutes(15)


def application_metric(name: str, statistic: str = "Sum", period: Duration = _FIVE_MINUTES) -> cloudwatch.Metric:
    """A Powertools EMF metric of the handlers (`tidings.kernel.observability.metrics`)."""
    return cloudwatch.Metric(
        namespace=names.COMMON_ENVIRONMENT["POWERTOOLS_METRICS_NAMESPACE"],
        metric_name=name,
        dimensions_map={"service": names.COMMON_ENVIRONMENT["POWERTOOLS_SERVICE_NAME"]},
        statistic=statistic,
        period=period,
    )


@dataclass(frozen=True)
class WatchedQueue:
    """A queue whose messages are failures parked for an operator: an on-failure destination of
    a stream consumer, or the dead-letter queue of a queue."""

    label: str
    queue: sqs.IQueue


class MonitoringConstruct(Construct):
    """The alarm topic (KMS-encrypted, TLS only), one alarm per failure signal, and a dashboard
    of the key metrics: connections, delivery latency and success, search latency, index and
    consumer lag, failure queue depths, WebSocket errors and push delivery.

    Every alarm notifies the topic when it fires and when it recovers. Missing data is not
    breaching: queues, functions and streams are quiet when nobody is chatting.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        application: Application,
        function_for: Callable[[Function], lambda_.Function],
        queues: QueuesConstruct,
        websocket_api: apigwv2.WebSocketApi,
        websocket_stage: apigwv2.WebSocketStage,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._prefix = stack.stack_name
        self._function_for = function_for
        self.topic = self._alarm_topic(removal_policy)
        self.alarms: list[cloudwatch.Alarm] = []

        self.failure_queues = failure_queues(application, queues)
        for watched in self.failure_queues:
            self._alarm(
                f"{watched.label}NotEmpty",
                watched.queue.metric_approximate_number_of_messages_visible(statistic="Maximum", period=_ONE_MINUTE),
                threshold=0,
                description=f"{watched.label} holds failed work: inspect it and redrive",
            )

        self.consumers: dict[str, tuple[lambda_.Function, int]] = {}
        for subscription in application.stream_subscriptions:
            threshold = min(ITERATOR_AGE_THRESHOLD_SECONDS, subscription.max_record_age_seconds // 2)
            function = function_for(subscription.function)
            self.consumers[subscription.function.id] = (function, threshold)
            self._alarm(
                f"{subscription.function.id}IteratorAge",
                function.metric("IteratorAge", statistic="Maximum", period=_ONE_MINUTE),
                threshold=threshold * 1000,
                evaluation_periods=2,
                description=(
                    f"{subscription.function.id} is more than {threshold} s behind the {subscription.table.id} "
                    "stream for 2 minutes"
                ),
            )

        for declared in application.functions:
            function = function_for(declared)
            if declared.id == application.authorizer.function.id:
                self._authorizer_errors_alarm(declared, function)
            else:
                self._alarm(
                    f"{declared.id}Errors",
                    function.metric_errors(statistic="Sum", period=_FIVE_MINUTES),
                    threshold=0,
                    description=f"{declared.id} failed invocations (handlers answer every client mistake "
                    "themselves, so an invocation error is a bug or an outage)",
                )
            self._alarm(
                f"{declared.id}Throttles",
                function.metric_throttles(statistic="Sum", period=_FIVE_MINUTES),
                threshold=0,
                description=f"{declared.id} invocations throttled (concurrency limit reached)",
            )

        self.websocket_metrics = {
            name: cloudwatch.Metric(
                namespace="AWS/ApiGateway",
                metric_name=name,
                dimensions_map={"ApiId": websocket_api.api_id, "Stage": websocket_stage.stage_name},
                statistic="Sum",
                period=_FIVE_MINUTES,
            )
            for name in ("ConnectCount", "MessageCount", "IntegrationError", "ExecutionError", "ClientError")
        }
        for name in ("IntegrationError", "ExecutionError"):
            self._alarm(
                f"WebSocket{name}",
                self.websocket_metrics[name],
                threshold=0,
                description=f"WebSocket API {name}: a route's integration failed (timeout, invocation error)",
            )

        self._alarm(
            "PushDeliveryRate",
            push_success_ratio(),
            threshold=PUSH_SUCCESS_RATIO_THRESHOLD,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            description=f"fewer than {PUSH_SUCCESS_RATIO_THRESHOLD:.0%} of push deliveries succeeded in 15 minutes",
        )

        self.dashboard = self._dashboard(application)

    @property
    def dashboard_url(self) -> str:
        region = Aws.REGION
        return (
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#dashboards/dashboard/{self.dashboard.dashboard_name}"
        )

    # --- alarms ---------------------------------------------------------------------------

    def _alarm_topic(self, removal_policy: RemovalPolicy) -> sns.Topic:
        """CloudWatch cannot publish to a topic encrypted with the AWS-managed `alias/aws/sns`
        key (its key policy cannot grant CloudWatch), so the topic has its own key, which
        CloudWatch may use only for this account's alarms."""
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Encrypts the Tidings alarm topic",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        cloudwatch_principal = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        from_our_alarms = {
            "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
            "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"},
        }
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[cloudwatch_principal],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions=from_our_alarms,
            )
        )
        topic = sns.Topic(self, "AlarmTopic", display_name="Tidings alarms", master_key=key, enforce_ssl=True)
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[cloudwatch_principal],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions=from_our_alarms,
            )
        )
        return topic

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        evaluation_periods: int = 1,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=f"{self._prefix}-{construct_id}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=comparison,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        action = actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        self.alarms.append(alarm)
        return alarm

    def _authorizer_errors_alarm(self, declared: Function, function: lambda_.Function) -> None:
        self._alarm(
            f"{declared.id}Errors",
            cloudwatch.MathExpression(
                expression=f"IF(invocations >= {AUTHORIZER_MINIMUM_INVOCATIONS}, errors / invocations, 0)",
                using_metrics={
                    "errors": function.metric_errors(statistic="Sum", period=_FIVE_MINUTES),
                    "invocations": function.metric_invocations(statistic="Sum", period=_FIVE_MINUTES),
                },
                label=f"{declared.id} error ratio",
                period=_FIVE_MINUTES,
            ),
            threshold=AUTHORIZER_ERROR_RATIO_THRESHOLD,
            description=f"more than {AUTHORIZER_ERROR_RATIO_THRESHOLD:.0%} of connect authorizations failed "
            "(tokenless connects count as errors: a broken signing key, or someone probing)",
        )

    # --- dashboard ------------------------------------------------------------------------

    def _dashboard(self, application: Application) -> cloudwatch.Dashboard:
        ws = self.websocket_metrics
        delivery_latency = application_metric("DeliveryLatency", "p99", _ONE_MINUTE)
        index_lag = [
            function.metric("IteratorAge", statistic="Maximum", period=_ONE_MINUTE, label=function_id)
            for function_id, (function, _) in self.consumers.items()
            if any(index_access == "read_write" for _, index_access in application.function(function_id).search)
        ]
        widgets: list[cloudwatch.IWidget] = [
            _graph(
                "Connections",
                [
                    application_metric("ConnectionsOpened").with_(label="opened (Connect)"),
                    application_metric("ConnectionsClosed").with_(label="closed (Disconnect)"),
                    ws["ConnectCount"].with_(label="$connect requests (API Gateway)"),
                ],
            ),
            _graph(
                "Delivery latency (ms, message accepted to frames posted)",
                [
                    delivery_latency.with_(label="p99"),
                    application_metric("DeliveryLatency", "p50", _ONE_MINUTE).with_(label="p50"),
                ],
                annotations={"p99 alert": 500, "p99 target": 200},
            ),
            _graph(
                "Delivery success (%, chat events fanned out vs parked after the retries)",
                [
                    self._delivery_success(application),
                ],
                right=[
                    application_metric("FramesDelivered").with_(label="frames posted"),
                    # Notification work the Delivery consumer left to its retry queue (whose DLQ alarms).
                    application_metric("NotificationsDeferred").with_(label="notifications deferred"),
                    application_metric("NotificationsRetried").with_(label="notifications retried"),
                ],
                annotations={"alert": 99.5},
            ),
            _graph(
                "Search latency (ms)",
                [
                    application_metric("SearchLatency", "p99", _ONE_MINUTE).with_(label="p99"),
                    application_metric("SearchLatency", "p50", _ONE_MINUTE).with_(label="p50"),
                ],
                annotations={"p99 alert": 2000, "p99 target": 500},
            ),
            _graph("Search index lag (ms, SearchIndexer iterator age)", index_lag, annotations={"alert": 30_000}),
            _graph(
                "Consumer lag (ms, iterator age)",
                [
                    function.metric("IteratorAge", statistic="Maximum", period=_ONE_MINUTE, label=function_id)
                    for function_id, (function, _) in self.consumers.items()
                ],
                annotations={"alert": ITERATOR_AGE_THRESHOLD_SECONDS * 1000},
            ),
            _graph(
                "Failure queue depths (messages)",
                [
                    w.queue.metric_approximate_number_of_messages_visible(
                        statistic="Maximum", period=_ONE_MINUTE, label=w.label
                    )
                    for w in self.failure_queues
                ],
            ),
            _graph(
                "WebSocket error rate (% of messages)",
                [
                    cloudwatch.MathExpression(
                        expression=f"100 * {name.lower()} / MAX([messages, 1])",
                        using_metrics={name.lower(): ws[name], "messages": ws["MessageCount"]},
                        label=name,
                        period=_FIVE_MINUTES,
                    )
                    for name in ("IntegrationError", "ExecutionError", "ClientError")
                ],
                right=[ws["MessageCount"].with_(label="messages")],
                annotations={"alert": 1},
            ),
            _graph(
                "Push delivery rate (%)",
                [
                    cloudwatch.MathExpression(
                        expression="100 * ratio",
                        using_metrics={"ratio": push_success_ratio()},
                        label="delivered %",
                        period=_FIFTEEN_MINUTES,
                    )
                ],
                right=[
                    application_metric(f"{outcome}.{platform}").with_(label=f"{outcome}.{platform}")
                    for outcome in ("PushSent", "PushFailed", "PushGaveUp")
                    for platform in PUSH_PLATFORMS
                ],
                annotations={"alert": PUSH_SUCCESS_RATIO_THRESHOLD * 100},
            ),
        ]
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{self._prefix}-operations")
        for row in range(0, len(widgets), 3):
            dashboard.add_widgets(*widgets[row : row + 3])
        return dashboard

    def _delivery_success(self, application: Application) -> cloudwatch.MathExpression:
        """Chat events the delivery consumer fanned out (each emits one `DeliveryLatency`) against
        the records that the frame-delivering stream consumers (those that manage connections)
        parked in their on-failure queues after the retries: every such consumer's failures count
        against delivery, which errs on the alarming side."""
        labels = {s.on_failure.id for s in application.stream_subscriptions if s.function.manages_connections}
        parked: dict[str, cloudwatch.IMetric] = {
            f"parked{index}": w.queue.metric_number_of_messages_sent(statistic="Sum", period=_FIVE_MINUTES)
            for index, w in enumerate(w for w in self.failure_queues if w.label in labels)
        }
        failed = " + ".join(f"FILL({metric_id}, 0)" for metric_id in parked) or "0"
        return cloudwatch.MathExpression(
            expression=f"100 * delivered / MAX([delivered + {failed}, 1])",
            using_metrics={"delivered": application_metric("DeliveryLatency", "SampleCount"), **parked},
            label="chat events delivered %",
            period=_FIVE_MINUTES,
        )


def failure_queues(application: Application, queues: QueuesConstruct) -> list[WatchedQueue]:
    """Every queue that holds failures: the on-failure queues of stream consumers, schedules and
    bucket notifications, and every DLQ."""
    watched: dict[str, WatchedQueue] = {}
    on_failure: list[Queue] = [
        *(s.on_failure for s in application.stream_subscriptions),
        *(s.on_failure for s in application.schedules),
        *(s.on_failure for s in application.bucket_subscriptions),
    ]
    for declared in on_failure:
        watched.setdefault(declared.id, WatchedQueue(declared.id, queues.queue(declared)))
    for declared in application.queues:
        dlq = queues.dead_letter_queue(declared)
        if dlq is not None:
            watched.setdefault(f"{declared.id}Dlq", WatchedQueue(f"{declared.id}Dlq", dlq))
    return list(watched.values())


def push_success_ratio() -> cloudwatch.MathExpression:
    """Sent / (sent + failed for good + gave up), all platforms, over 15 minutes; 1 (healthy)
    while fewer than `PUSH_MINIMUM_ATTEMPTS` pushes ended."""

    def total(*outcomes: str) -> cloudwatch.MathExpression:
        metrics: dict[str, cloudwatch.IMetric] = {
            f"{outcome.lower()}_{platform}": application_metric(f"{outcome}.{platform}", period=_FIFTEEN_MINUTES)
            for outcome in outcomes
            for platform in PUSH_PLATFORMS
        }
        return cloudwatch.MathExpression(
            expression=" + ".join(f"FILL({metric_id}, 0)" for metric_id in metrics),
            using_metrics=metrics,
            period=_FIFTEEN_MINUTES,
        )

    return cloudwatch.MathExpression(
        expression=f"IF(sent + failed >= {PUSH_MINIMUM_ATTEMPTS}, sent / (sent + failed), 1)",
        using_metrics={"sent": total("PushSent"), "failed": total("PushFailed", "PushGaveUp")},
        label="push success ratio",
        period=_FIFTEEN_MINUTES,
    )


def _graph(
    title: str,
    left: Iterable[cloudwatch.IMetric],
    *,
    right: Iterable[cloudwatch.IMetric] = (),
    annotations: Mapping[str, float] | None = None,
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title,
        left=list(left),
        right=list(right),
        left_annotations=[cloudwatch.HorizontalAnnotation(value=v, label=k) for k, v in (annotations or {}).items()],
        width=8,
        height=6,
    )
