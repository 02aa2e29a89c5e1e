"""Everything that invokes a function other than the WebSocket API: DynamoDB stream consumers,
SQS consumers, schedules and S3 event notifications."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3_notifications
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from tidings.kernel.declaration import BucketSubscription, Function, QueueSubscription, Schedule, StreamSubscription
from tidings_infra.buckets import BucketsConstruct
from tidings_infra.nag import acknowledge
from tidings_infra.queues import QueuesConstruct
from tidings_infra.tables import TablesConstruct

_STARTING_POSITIONS = {
    "LATEST": lambda_.StartingPosition.LATEST,
    "TRIM_HORIZON": lambda_.StartingPosition.TRIM_HORIZON,
}


def event_name_filter(event_names: Sequence[str]) -> Mapping[str, Any]:
    """The event-source-mapping filter that passes only the declared stream event names."""
    rule = (
        lambda_.FilterRule.is_equal(event_names[0]) if len(event_names) == 1 else lambda_.FilterRule.or_(*event_names)
    )
    return lambda_.FilterCriteria.filter({"eventName": rule})


class EventSourcesConstruct(Construct):
    """Event source mappings and schedules, each with Lambda's failure handling spelled out.

    Stream consumers report partial batch failures, retry a bounded number of times while
    bisecting the batch, drop records older than `max_record_age`, and park what still fails
    in the declared on-failure SQS queue: a poison record never blocks a shard and is never
    silently lost. `SqsDlq` grants the consumer `sqs:SendMessage` on that queue, and the
    mapping grants it read access to the table's stream.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stream_subscriptions: Sequence[StreamSubscription],
        queue_subscriptions: Sequence[QueueSubscription],
        schedules: Sequence[Schedule],
        bucket_subscriptions: Sequence[BucketSubscription] = (),
        tables: TablesConstruct,
        queues: QueuesConstruct,
        buckets: BucketsConstruct | None = None,
        function_for: Callable[[Function], lambda_.Function],
    ) -> None:
        super().__init__(scope, construct_id)
        for stream in stream_subscriptions:
            table = tables.table(stream.table)
            if stream.table.stream is None:
                raise ValueError(f"stream subscription on {stream.table.id}, which declares no stream")
            if not stream.event_names:
                raise ValueError(f"stream subscription on {stream.table.id} passes no event names")
            function_for(stream.function).add_event_source(
                sources.DynamoEventSource(
                    table,
                    starting_position=_STARTING_POSITIONS[stream.starting_position],
                    batch_size=stream.batch_size,
                    max_batching_window=Duration.seconds(stream.max_batching_window_seconds),
                    retry_attempts=stream.retry_attempts,
                    bisect_batch_on_error=stream.bisect_batch_on_error,
                    parallelization_factor=stream.parallelization_factor,
                    report_batch_item_failures=True,
                    max_record_age=Duration.seconds(stream.max_record_age_seconds),
                    on_failure=sources.SqsDlq(queues.queue(stream.on_failure)),
                    filters=[event_name_filter(stream.event_names)],
                )
            )
        for subscription in queue_subscriptions:
            queue = queues.queue(subscription.queue)
            function = function_for(subscription.function)
            queue.grant_consume_messages(function)
            mapping = function.add_event_source_mapping(
                f"{subscription.queue.id}Consumer",
                event_source_arn=queue.queue_arn,
                batch_size=subscription.batch_size,
                max_batching_window=Duration.seconds(subscription.max_batching_window_seconds),
                report_batch_item_failures=True,
            )
            if subscription.queue.dead_letter_after is not None:
                acknowledge(
                    mapping,
                    "SQS event source mappings take no on-failure destination: messages that keep "
                    f"failing move to the queue's own DLQ after {subscription.queue.dead_letter_after} "
                    "receives (its redrive policy).",
                    "Serverless-LambdaEventSourceMappingDestination",
                )
        for schedule in schedules:
            if schedule.rate_seconds < 60 or schedule.rate_seconds % 60:
                raise ValueError(
                    f"schedule {schedule.id}: EventBridge rates are whole minutes, got {schedule.rate_seconds}s"
                )
            function = function_for(schedule.function)
            on_failure = queues.queue(schedule.on_failure)
            _park_async_failures(function, on_failure, max_event_age=Duration.seconds(schedule.rate_seconds))
            events.Rule(
                self,
                schedule.id,
                schedule=events.Schedule.rate(Duration.minutes(schedule.rate_seconds // 60)),
                targets=[
                    targets.LambdaFunction(
                        function,
                        retry_attempts=2,
                        max_event_age=Duration.seconds(schedule.rate_seconds),
                        dead_letter_queue=on_failure,  # an event EventBridge could not even deliver
                    )
                ],
            )
        for bucket_subscription in bucket_subscriptions:
            if buckets is None:
                raise ValueError("bucket subscriptions need the buckets construct")
            self._bucket_notifications(
                bucket_subscription, buckets.bucket(bucket_subscription.bucket), queues, function_for
            )

    def _bucket_notifications(
        self,
        subscription: BucketSubscription,
        bucket: s3.Bucket,
        queues: QueuesConstruct,
        function_for: Callable[[Function], lambda_.Function],
    ) -> None:
        """S3 invokes the function asynchronously for each object created under the prefix;
        Lambda retries a failed invocation twice, then parks the event in the on-failure queue.
        CDK writes the notification configuration through its own custom resource (CloudFormation
        cannot, without a cycle between the bucket and the function's permission)."""
        function = function_for(subscription.function)
        _park_async_failures(function, queues.queue(subscription.on_failure), max_event_age=Duration.hours(6))
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3_notifications.LambdaDestination(function),
            s3.NotificationKeyFilter(prefix=subscription.prefix) if subscription.prefix else s3.NotificationKeyFilter(),
        )
        _acknowledge_notifications_handler(Stack.of(self))


def _park_async_failures(function: lambda_.Function, queue: sqs.IQueue, *, max_event_age: Duration) -> None:
    """An asynchronously invoked function (a schedule's, a bucket's): Lambda retries a failed
    invocation twice, then parks the event and the error in the declared on-failure queue."""
    acknowledge(
        function,
        "Failed asynchronous invocations go to an on-failure destination (the declared SQS queue, "
        "with the event and the error), which supersedes a dead-letter queue for them.",
        "Serverless-LambdaDLQ",
    )
    function.configure_async_invoke(
        on_failure=destinations.SqsDestination(queue), retry_attempts=2, max_event_age=max_event_age
    )


def _acknowledge_notifications_handler(stack: Stack) -> None:
    """CDK's singleton function that writes bucket notification configurations at deploy time."""
    for child in stack.node.children:
        if child.node.id.startswith("BucketNotificationsHandler"):
            acknowledge(
                child,
                "CDK's own deploy-time handler that writes the bucket's notification configuration "
                "(it runs only during deployments); its role is CDK's, with basic execution logging.",
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            )
