"""Messages stream consumer: delivers each new chat event to every member's connections, then
does its notification work (badges, toasts, push jobs) with the members and connections it read.

One reader for both, because a DynamoDB stream takes at most two (the search indexer is the
other). Failure semantics (docs/architecture.md "Fan-out" and "Notifications"):

- fan-out reads before its first post; a record whose reads fail is reported in
  `batchItemFailures` before anybody got it, retried by the event source mapping (bisected,
  bounded), then sent to the on-failure queue;
- a connection that fails is retried on its own through the delivery retry queue, so the record
  succeeds and nobody already reached gets the frame twice;
- notification work that fails never fails the record (a retry would post the frames to everyone
  again): the record goes to the notification retry queue, whose consumer runs the notification
  work again and parks it in its DLQ after 3 tries. Only when that queue cannot take it either
  does the record fail, so the notification is never dropped: the mapping then retries the record
  whole (clients drop a frame whose `seq` they already have).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.chats import compose as chats
from tidings.chats.directory import DynamoMemberDirectory, DynamoUserDirectory
from tidings.chats.membership_events import ChatChange, arrivals, chat_added_frame, chat_removed_frame, departure
from tidings.kernel import connections_api
from tidings.kernel.delay_queue import DelayQueue
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry, process_batch
from tidings.kernel.observability import logger, metrics, record_scope
from tidings.kernel.wire import encode
from tidings.messaging import compose as messaging
from tidings.messaging.declaration import DELIVERY
from tidings.messaging.fanout import Fanout
from tidings.messaging.message_store import DynamoMessageStore
from tidings.messaging.records import ChatEventRecord, chat_event, chat_event_frame
from tidings.messaging.typing_indicators import typing_ended_by_message
from tidings.messaging.typing_store import DynamoTypingStateStore
from tidings.notifications import compose as notifications
from tidings.notifications.notifying import ChatEventNotifications
from tidings.notifications.records import NotificationRetry
from tidings.presence import compose as presence
from tidings.presence.subscription_ends import SubscriptionEnds
from tidings.sessions import compose as sessions


@dataclass(frozen=True)
class Services:
    messages: DynamoMessageStore
    members: DynamoMemberDirectory
    typing: DynamoTypingStateStore
    users: DynamoUserDirectory
    fanout: Fanout
    notifications: ChatEventNotifications
    notification_retries: DelayQueue[NotificationRetry]
    presence_ends: SubscriptionEnds


@cold_start(DELIVERY)
def _services(environment: Environment) -> Services:
    poster = connections_api.poster(environment)
    members = chats.member_directory(environment)
    connections = sessions.connection_store(environment)
    return Services(
        messaging.message_store(environment),
        members,
        messaging.typing_state(environment),
        chats.user_directory(environment),
        messaging.fanout(environment, poster=poster, members=members, connections=connections, sharded=True),
        notifications.chat_event_notifications(
            environment,
            poster=poster,
            members=members,
            connections=connections,
            presence=presence.presence_store(environment),  # DND
            chats=chats.chat_directory(environment),
        ),
        notifications.notification_retries(environment),
        presence.subscription_ends(environment),
    )


def handle(record: DynamoDBRecord) -> None:
    event = chat_event(record)
    if event is None:
        return
    with record_scope(event.item.trace_id):
        services = _services()
        audience = deliver(services, record, event)
        notify(services, record, event, audience)


def deliver(services: Services, record: DynamoDBRecord, event: ChatEventRecord) -> dict[str, list[str]] | None:
    """Posts the event's frame to the chat; the audience it read, None for an unknown kind."""
    frame = chat_event_frame(event, services.messages.get)
    if frame is None and event.change is None:
        return None
    chat_id = event.item.chat_id
    # Read now, after the change committed (strongly consistent): a member removed before this
    # event was written is not in it, and one just added is.
    audience = services.fanout.audience(chat_id)
    if event.change is not None:
        membership_frames(services, event.change, audience)
    if frame is None:
        return audience
    frames: list[tuple[str, str | None]] = []
    if frame["type"] == "message.new":
        sender = frame["payload"]["message"]["senderId"]
        typing_off = typing_ended_by_message(services.typing, services.users, chat_id, sender)
        if typing_off is not None:
            frames.append((typing_off, sender))
    frames.append((encode(frame), None))
    report = services.fanout.frames_to_audience(audience, frames, trace_id=event.item.trace_id)
    logger.info(
        "chat event delivered" if not report.sharded else "chat event handed to the fan-out workers",
        extra={
            "chatId": chat_id,
            "seq": event.item.seq,
            "kind": event.kind,
            "framesDelivered": report.delivered,
            "shards": report.sharded,
        },
    )
    metrics.add_metric(name="FramesDelivered", unit="Count", value=report.delivered)
    if report.sharded:
        metrics.add_metric(name="FanoutShards", unit="Count", value=report.sharded)
    # Delivery latency: from the event's createdAt (stamped when it was accepted) to now.
    accepted = datetime.fromisoformat(record.dynamodb.new_image["createdAt"])  # type: ignore[union-attr]  # an event
    metrics.add_metric(
        name="DeliveryLatency", unit="Milliseconds", value=(datetime.now(UTC) - accepted).total_seconds() * 1000
    )
    if report.gone:
        metrics.add_metric(name="StaleConnectionsRemoved", unit="Count", value=report.gone)
    if report.retrying or report.given_up:
        metrics.add_metric(name="DeliveriesRetried", unit="Count", value=report.retrying)
        metrics.add_metric(name="DeliveriesGivenUp", unit="Count", value=report.given_up)
    return audience


def membership_frames(services: Services, change: ChatChange, audience: dict[str, list[str]]) -> None:
    """`chat.added` to the connections of whoever arrived in the chat, `chat.removed` to those
    of whoever left it (no longer in `audience`, so no other frame of the chat reaches them)."""
    arrived = [user_id for user_id in arrivals(change, list(audience)) if user_id in audience]
    if arrived:
        roles = services.members.roles(change.chat_id)
        members = [
            {"userId": user_id, "displayName": services.users.display_name(user_id), "role": role}
            for user_id, role in roles.items()
        ]
        added = encode(chat_added_frame(change, members))
        services.fanout.frames_to_audience({user_id: audience[user_id] for user_id in arrived}, [(added, None)])
    gone = departure(change)
    if gone is not None and gone not in audience:
        removed = encode(chat_removed_frame(change))
        services.fanout.frames_to_audience(services.fanout.audience_of([gone]), [(removed, None)])
        ended = services.presence_ends.after_leaving(gone)
        if ended:
            metrics.add_metric(name="PresenceSubscriptionsEnded", unit="Count", value=len(ended))


def notify(
    services: Services, record: DynamoDBRecord, event: ChatEventRecord, audience: dict[str, list[str]] | None
) -> None:
    """The notification work, after the frames were posted; what fails is retried on its own."""
    try:
        services.notifications.event(event.kind, event.item, event.target_seq, audience)
    except Exception:
        logger.exception("notification failed; queued for the notification retry")
        metrics.add_metric(name="NotificationsDeferred", unit="Count", value=1)
        services.notification_retries.schedule(NotificationRetry(record.raw_event))  # if this raises, the record fails


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_batch(event, context, handle, EventType.DynamoDBStreams)
