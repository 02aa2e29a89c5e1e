"""Messages stream consumer: delivers each new chat event to every member's connections.

A connection that fails is retried on its own through the delivery retry queue, so the record
succeeds and nobody already reached gets the frame twice (docs/architecture.md "Fan-out").
Partial batch responses: a record that fails (a read failed, or the retry queue could not take
a job) is reported in `batchItemFailures`, retried by the event source mapping (bisected,
bounded), then sent to the on-failure queue.
"""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.domain.typing import typing_ended_by_message
from tidings.edge.streams import chat_event_frame
from tidings.observability import logger, metrics, tracer
from tidings.protocol.frames import encode
from tidings.wiring import fanout, message_store, typing_state, user_directory

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def deliver(record: DynamoDBRecord) -> None:
    event = chat_event_frame(record, message_store().get)
    if event is None:
        return
    chat_id, frame = event
    frames: list[tuple[str, str | None]] = []
    if frame["type"] == "message.new":
        sender = frame["payload"]["message"]["senderId"]
        typing_off = typing_ended_by_message(typing_state(), user_directory(), chat_id, sender)
        if typing_off is not None:
            frames.append((typing_off, sender))
    frames.append((encode(frame), None))
    report = fanout().frames_to_chat(chat_id, frames)
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


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=deliver, processor=processor, context=context)
