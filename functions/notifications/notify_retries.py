"""Notification retries (the NotificationRetries queue): the chat events whose notification work
(badges, toasts, push jobs) failed in the Delivery consumer or a fan-out worker after their
frames were posted, done again from the stream record the job carries (for a big chat's message
shard, only for that shard's members). A record that fails again (storage still down, or a body
that is not a retry job) is redelivered by SQS, and after 3 receives its redrive policy parks it
in the DLQ, which alarms (docs/architecture.md "Notifications")."""

from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings import assemblies
from tidings.kernel import connections_api
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry, process_batch, queue_job
from tidings.kernel.observability import metrics, record_scope
from tidings.messaging.records import chat_event
from tidings.notifications.declaration import NOTIFY_RETRY
from tidings.notifications.notifying import ChatEventNotifications
from tidings.notifications.records import NOTIFICATION_RETRY_BODIES
from tidings.sessions import compose as sessions


@cold_start(NOTIFY_RETRY)
def _notifications(environment: Environment) -> ChatEventNotifications:
    return assemblies.chat_event_notifications(
        environment, poster=connections_api.poster(environment), connections=sessions.connection_store(environment)
    )


def notify(record: SQSRecord) -> None:
    job = queue_job(
        record, NOTIFICATION_RETRY_BODIES, job="notification retry job", malformed_metric="NotificationRetriesMalformed"
    )
    event = chat_event(DynamoDBRecord(job.record))
    if event is None:
        return
    with record_scope(event.item.trace_id):  # the job's stream record carries the message's
        _notifications().event(event.kind, event.item, event.target_seq, only=job.user_ids)
        metrics.add_metric(name="NotificationsRetried", unit="Count", value=1)


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # A batch of nothing but poison is still a partial failure response, not an invocation error.
    return process_batch(event, context, notify, EventType.SQS, poison_is_partial=True)
