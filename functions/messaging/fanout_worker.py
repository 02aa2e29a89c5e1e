"""Fan-out shards (the FanoutShards queue): one shard of a big chat's delivery, posted through
the one delivery loop. A job is either
- a `Redelivery`: up to 250 connections and the frames they are owed (an edit, a reaction, a
  summary: a frame the same for everyone), or
- a `MessageShard`: a new message for up to 100 members, offline ones too. The worker does
  their notification work (badges, toasts, push jobs) first, then posts each of their
  connections once, as the Delivery consumer does for a small chat: the badge and toast inside
  `message.new` on protocol version 2. A decision that fails posts the message plain and queues
  these members' notification work for the notification retry. A `quiet` shard (a summarised
  message of a flooded chat) is the notification work alone: nothing is posted, since the
  chat's `chat.summary` stands for the message and the sync it prompts brings the badges.

A connection that fails goes to the delivery retry queue on its own (a throttled one with a
spread-out backoff), a gone one is forgotten, and the job succeeds: nobody in the shard is
posted to twice (docs/architecture.md "Fan-out"). A job fails only when its body is not a shard
(or a retry queue cannot take a connection's retry or the notification retry): SQS redelivers
it, and after 3 receives its redrive policy parks it in the DLQ, which alarms."""

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings import assemblies
from tidings.kernel import connections_api
from tidings.kernel.connections_api import Deliveries, DeliveryReport
from tidings.kernel.delay_queue import DelayQueue
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry, process_batch, queue_job
from tidings.kernel.observability import logger, record_scope
from tidings.messaging import compose as messaging
from tidings.messaging.declaration import FANOUT_WORKER
from tidings.messaging.fanout_shards import FANOUT_JOBS, MessageShard
from tidings.messaging.records import chat_event, chat_event_frame
from tidings.notifications import compose as notifications
from tidings.notifications.notifying import ChatEventNotifications
from tidings.notifications.records import NotificationRetry
from tidings.sessions import compose as sessions


@dataclass(frozen=True)
class Services:
    deliveries: Deliveries
    notifications: ChatEventNotifications
    notification_retries: DelayQueue[NotificationRetry]


@cold_start(FANOUT_WORKER)
def _services(environment: Environment) -> Services:
    poster, connections = connections_api.poster(environment), sessions.connection_store(environment)
    return Services(
        messaging.deliveries(environment, poster=poster, connections=connections),
        assemblies.chat_event_notifications(environment, poster=poster, connections=connections),
        notifications.notification_retries(environment),
    )


def deliver(record: SQSRecord) -> None:
    job = queue_job(record, FANOUT_JOBS, job="fan-out shard", malformed_metric="FanoutShardsMalformed")
    with record_scope(job.trace_id):
        services = _services()
        connections_api.count_delivery(
            deliver_message(services, job) if isinstance(job, MessageShard) else services.deliveries.redeliver(job)
        )


def deliver_message(services: Services, shard: MessageShard) -> DeliveryReport:
    """The shard's members' notification work, then each of their connections posted once
    (none, for a quiet shard)."""
    event = chat_event(DynamoDBRecord(shard.record))
    frame = None if event is None else chat_event_frame(event, lambda chat_id, seq: None)
    if event is None or frame is None:
        raise ValueError("a message shard's record is not a new message")
    if shard.quiet:
        try:
            services.notifications.decide(event.item, shard.audience)
        except Exception:
            assemblies.defer_notification(services.notification_retries, shard.record, list(shard.audience))
        logger.info("summarised message shard notified", extra={"chatId": event.item.chat_id, "seq": event.item.seq})
        return DeliveryReport()
    targets, notices = assemblies.new_message_targets(
        services.notifications,
        services.notification_retries,
        shard.record,
        event.item,
        frame,
        shard.before,
        shard.audience,
        whole_chat=False,
    )
    report = services.deliveries.deliver(targets, trace_id=shard.trace_id)
    logger.info(
        "message shard delivered",
        extra={
            "chatId": event.item.chat_id,
            "seq": event.item.seq,
            "members": len(shard.audience),
            "framesDelivered": report.delivered,
            "noticesTold": 0 if notices is None else len(notices.by_user),
        },
    )
    return report


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # A batch of nothing but poison is still a partial failure response, not an invocation error.
    return process_batch(event, context, deliver, EventType.SQS, poison_is_partial=True)
