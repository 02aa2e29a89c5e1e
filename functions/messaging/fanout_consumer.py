"""Messages stream consumer: delivers each new chat event to every member's connections.

A connection that fails is retried on its own through the delivery retry queue, so the record
succeeds and nobody already reached gets the frame twice (docs/architecture.md "Fan-out").
Partial batch responses: a record that fails (a read failed, or the retry queue could not take
a job) is reported in `batchItemFailures`, retried by the event source mapping (bisected,
bounded), then sent to the on-failure queue.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.chats import compose as chats
from tidings.chats.directory import DynamoUserDirectory
from tidings.kernel import connections_api
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry, process_batch
from tidings.kernel.observability import metrics
from tidings.kernel.wire import encode
from tidings.messaging import compose as messaging
from tidings.messaging.declaration import FANOUT
from tidings.messaging.fanout import Fanout
from tidings.messaging.message_store import DynamoMessageStore
from tidings.messaging.records import chat_event_frame
from tidings.messaging.typing_indicators import typing_ended_by_message
from tidings.messaging.typing_store import DynamoTypingStateStore
from tidings.sessions import compose as sessions


@dataclass(frozen=True)
class Services:
    messages: DynamoMessageStore
    typing: DynamoTypingStateStore
    users: DynamoUserDirectory
    fanout: Fanout


@cold_start(FANOUT)
def _services(environment: Environment) -> Services:
    fanout = messaging.fanout(
        environment,
        poster=connections_api.poster(environment),
        members=chats.member_directory(environment),
        connections=sessions.connection_store(environment),
    )
    return Services(
        messaging.message_store(environment),
        messaging.typing_state(environment),
        chats.user_directory(environment),
        fanout,
    )


def deliver(record: DynamoDBRecord) -> None:
    services = _services()
    event = chat_event_frame(record, services.messages.get)
    if event is None:
        return
    chat_id, frame = event
    frames: list[tuple[str, str | None]] = []
    if frame["type"] == "message.new":
        sender = frame["payload"]["message"]["senderId"]
        typing_off = typing_ended_by_message(services.typing, services.users, chat_id, sender)
        if typing_off is not None:
            frames.append((typing_off, sender))
    frames.append((encode(frame), None))
    report = services.fanout.frames_to_chat(chat_id, frames)
    metrics.add_metric(name="FramesDelivered", unit="Count", value=report.delivered)
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


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_batch(event, context, deliver, EventType.DynamoDBStreams)
