"""Messages stream consumer: delivers each new chat event to every member's connections, with
its notification work (badges, toasts, push jobs) done on the members and connections it read.

A new message is decided first, then posted once: the notification decision runs before the
post (`tidings.assemblies.new_message_targets`), so each recipient connection gets one API
Gateway message for it, its badge and toast inside `message.new` on protocol version 2, or
`message.new` then the separate `notification.badge` and `notification.toast` on version 1 (a
connection that never said hello). A big chat's new message (more than 500 members or
connections) goes to the fan-out workers in message shards instead, each decided and posted the
same way by its worker (`fanout_shards`). A summarised message (summary mode) is decided and
posted so to those still told of it, and the rest of its audience is notified in quiet shards
that post nothing. Every other event is posted first and its notification work done after
(`notify`).

One reader for both, because a DynamoDB stream takes at most two (the search indexer is the
other). Failure semantics (docs/architecture.md "Fan-out" and "Notifications"):

- fan-out reads before its first post; a record whose reads fail is reported in
  `batchItemFailures` before anybody got it, retried by the event source mapping (bisected,
  bounded), then sent to the on-failure queue;
- a connection that fails is retried on its own through the delivery retry queue, so the record
  succeeds and nobody already reached gets the frame twice;
- notification work that fails never fails the record (a retry would post the frames to everyone
  again) and never holds up the message: a decision that fails posts plain `message.new`, and
  the record goes to the notification retry queue, whose consumer runs the notification work
  again, tells it in separate frames, and parks it in its DLQ after 3 tries. Only when that queue
  cannot take it either does the record fail, so the notification is never dropped: the mapping
  then retries the record whole (clients drop a frame whose `seq` they already have). A record
  retried whole after its decision (the delivery retry queue refused a job) decides again: a
  badge may then count the message twice, until the reader's next `read.mark` recounts it.

A big chat flooded beyond 100 messages a second is in summary mode (`summary_mode`): its
audience gets one `chat.summary` per chat at the end of the batch instead of each message.new.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings import assemblies
from tidings.chats import compose as chats
from tidings.chats.directory import DynamoMemberDirectory, DynamoUserDirectory
from tidings.chats.membership_events import ChatChange, arrivals, chat_added_frame, chat_removed_frame, departure
from tidings.kernel import connections_api
from tidings.kernel.connections_api import DeliveryReport
from tidings.kernel.delay_queue import DelayQueue
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry, process_batch
from tidings.kernel.observability import logger, metrics, record_scope
from tidings.kernel.wire import encode
from tidings.messaging import compose as messaging
from tidings.messaging.declaration import DELIVERY
from tidings.messaging.fanout import Fanout
from tidings.messaging.fanout_shards import MessageShard, message_is_sharded, message_shards
from tidings.messaging.message_store import DynamoMessageStore
from tidings.messaging.records import ChatEventRecord, chat_event, chat_event_frame
from tidings.messaging.summary_mode import MessageRates, SummaryWindow, still_told
from tidings.messaging.typing_indicators import typing_ended_by_message
from tidings.messaging.typing_store import DynamoTypingStateStore
from tidings.notifications import compose as notifications
from tidings.notifications.notifying import ChatEventNotifications, Notices
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
    message_shards: DelayQueue[MessageShard]
    notifications: ChatEventNotifications
    notification_retries: DelayQueue[NotificationRetry]
    presence_ends: SubscriptionEnds
    rates: MessageRates


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
        messaging.message_shards(environment),
        assemblies.chat_event_notifications(environment, poster=poster, connections=connections),
        notifications.notification_retries(environment),
        presence.subscription_ends(environment),
        messaging.message_rates(environment),
    )


# Each chat's audience (its members and their connections) as one batch read it, by chat id.
Audiences = dict[str, dict[str, list[str]]]


def handle(record: DynamoDBRecord, summaries: SummaryWindow, audiences: Audiences) -> None:
    event = chat_event(record)
    if event is None:
        return
    with record_scope(event.item.trace_id):
        services = _services()
        delivered = deliver(services, record, event, summaries, audiences)
        if not delivered.notified:
            notify(services, record, event, delivered.audience)


@dataclass(frozen=True)
class Delivered:
    """The audience `deliver` read (None for an unknown kind), and whether the notification work
    is done already (decided before the post, or queued for its retry)."""

    audience: dict[str, list[str]] | None
    notified: bool = False


def deliver(
    services: Services,
    record: DynamoDBRecord,
    event: ChatEventRecord,
    summaries: SummaryWindow,
    audiences: Audiences,
) -> Delivered:
    """Posts the event's frame to the chat (a summarised message.new only to those still told
    of it). A new message is decided first, so each connection's one post carries its
    recipient's notice (`new_message`)."""
    frame = chat_event_frame(event, services.messages.get)
    if frame is None and event.change is None:
        return Delivered(None)
    chat_id = event.item.chat_id
    # Read after the change committed (strongly consistent: every record of the batch was
    # written before the batch was read): a member removed before this event was written is not
    # in it, and one just added is. Once per chat and batch, since the records after it were
    # written before the read too; a membership or chat change (a record of the same stream, in
    # order) reads it again for the records after it.
    audience = audiences.get(chat_id) if event.change is None else None
    if audience is None:
        audience = audiences[chat_id] = services.fanout.audience(chat_id)
    if event.change is not None:
        membership_frames(services, event.change, audience)
    if frame is None:
        return Delivered(audience)
    # Read before the summary check, so a record that fails to read is not counted.
    accepted = datetime.fromisoformat(record.dynamodb.new_image["createdAt"])  # type: ignore[union-attr]  # an event
    posted_to = audience
    notices: Notices | None = None
    notified = False
    if frame["type"] == "message.new" and summaries.summarises(services.rates, chat_id, accepted, audience):
        summaries.add(chat_id, event.item.seq, audience)
        told = still_told(frame["payload"]["message"])
        posted_to = {user_id: audience[user_id] for user_id in told if user_id in audience}
        metrics.add_metric(name="MessagesSummarised", unit="Count", value=1)
        report, notices = summarised_message(services, record, event, frame, audience, posted_to)
        notified = True
    elif frame["type"] == "message.new":
        report, notices = new_message(services, record, event, frame, audience)
        notified = True
    else:
        report = services.fanout.frames_to_audience(audience, [(encode(frame), None)], event.item.trace_id)
    logger.info(
        "chat event delivered" if not report.sharded else "chat event handed to the fan-out workers",
        extra={
            "chatId": chat_id,
            "seq": event.item.seq,
            "kind": event.kind,
            "framesDelivered": report.delivered,
            "shards": report.sharded,
            "summarised": posted_to is not audience,
            "noticesTold": 0 if notices is None else len(notices.by_user),
        },
    )
    metrics.add_metric(name="FramesDelivered", unit="Count", value=report.delivered)
    if report.sharded:
        metrics.add_metric(name="FanoutShards", unit="Count", value=report.sharded)
    # Delivery latency: from the event's createdAt (stamped when it was accepted) to now.
    metrics.add_metric(
        name="DeliveryLatency", unit="Milliseconds", value=(datetime.now(UTC) - accepted).total_seconds() * 1000
    )
    if report.gone:
        metrics.add_metric(name="StaleConnectionsRemoved", unit="Count", value=report.gone)
    if report.retrying or report.given_up:
        metrics.add_metric(name="DeliveriesRetried", unit="Count", value=report.retrying)
        metrics.add_metric(name="DeliveriesGivenUp", unit="Count", value=report.given_up)
    return Delivered(audience, notified)


def new_message(
    services: Services,
    record: DynamoDBRecord,
    event: ChatEventRecord,
    frame: dict[str, Any],
    audience: dict[str, list[str]],
) -> tuple[DeliveryReport, Notices | None]:
    """A new message (the sender's typing ended by it first): decided, then posted, each
    connection once; a big chat's in message shards, each decided and posted by a fan-out worker
    for its members (`fanout_shards`)."""
    sender = frame["payload"]["message"]["senderId"]
    before: list[tuple[str, str | None]] = []
    typing_off = typing_ended_by_message(services.typing, services.users, event.item.chat_id, sender)
    if typing_off is not None:
        before.append((typing_off, sender))
    if message_is_sharded(audience):
        shards = message_shards(record.raw_event, audience, before, event.item.trace_id)
        services.message_shards.schedule_all(shards)
        return DeliveryReport(sharded=len(shards)), None
    return decided_and_posted(services, record, event, frame, before, audience, whole_chat=True)


def summarised_message(
    services: Services,
    record: DynamoDBRecord,
    event: ChatEventRecord,
    frame: dict[str, Any],
    audience: dict[str, list[str]],
    told: dict[str, list[str]],
) -> tuple[DeliveryReport, Notices | None]:
    """A summarised message: decided and posted, each connection once, to those still told of it
    (its sender, whom it names); the rest of the audience's notification work in quiet message
    shards, posting nothing (their `chat.summary` comes at the end of the batch, and the sync it
    prompts brings their badges): a flood costs no frame per message and recipient, and its
    notification work runs beside the consumer, not in it."""
    delivered = decided_and_posted(services, record, event, frame, [], told, whole_chat=False)
    rest = {user_id: connection_ids for user_id, connection_ids in audience.items() if user_id not in told}
    if rest:
        quiet = message_shards(record.raw_event, rest, [], event.item.trace_id, quiet=True)
        services.message_shards.schedule_all(quiet)
    return delivered


def decided_and_posted(
    services: Services,
    record: DynamoDBRecord,
    event: ChatEventRecord,
    frame: dict[str, Any],
    before: list[tuple[str, str | None]],
    audience: dict[str, list[str]],
    *,
    whole_chat: bool,
) -> tuple[DeliveryReport, Notices | None]:
    """`audience`'s notification work decided, then each of its connections posted once."""
    targets, notices = assemblies.new_message_targets(
        services.notifications,
        services.notification_retries,
        record.raw_event,
        event.item,
        frame,
        before,
        audience,
        whole_chat=whole_chat,
    )
    return services.fanout.frames_to_connections(targets, trace_id=event.item.trace_id), notices


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
    """The notification work after the frames were posted (a delete's recount); what fails is
    retried on its own."""
    try:
        services.notifications.event(event.kind, event.item, event.target_seq, audience)
    except Exception:
        assemblies.defer_notification(services.notification_retries, record.raw_event)


def post_summaries(services: Services, summaries: SummaryWindow) -> None:
    """The batch's `chat.summary` frames, one per summarised chat. Its records have succeeded,
    so a summary that cannot be posted (the shard queue down) is logged, not retried: the
    messages are stored, and clients find the gap at the chat's next frame and sync it."""
    for data, audience, messages in summaries.frames():
        try:
            report = services.fanout.frames_to_audience(audience, [(data, None)])
        except Exception:
            logger.exception("chat summary not posted", extra={"messages": messages})
            metrics.add_metric(name="ChatSummariesFailed", unit="Count", value=1)
            continue
        logger.info("chat summary posted", extra={"messages": messages, "shards": report.sharded})
        metrics.add_metric(name="ChatSummaries", unit="Count", value=1)


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    summaries, audiences = SummaryWindow(), Audiences()
    response = process_batch(
        event, context, lambda record: handle(record, summaries, audiences), EventType.DynamoDBStreams
    )
    if summaries:
        post_summaries(_services(), summaries)
    return response
