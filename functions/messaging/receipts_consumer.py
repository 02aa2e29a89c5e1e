"""Members stream consumer: when a watermark moves, sends `read.receipt` to the other members
and recounts the reader's badge (`notification.badge` to all of the reader's connections).

The event source's batching window coalesces bursts: one receipt per reader per chat per batch,
with the highest seq. A move made by the member's own message (`lastReadBy: "send"`) sends no
receipt, and recounts only when the sender had something unread (`tidings.domain.receipts`).
"""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics, tracer
from tidings.kernel.wire import encode
from tidings.messaging.receipts import Advance, Plan, plan, read_receipt
from tidings.messaging.records import watermark_advance
from tidings.wiring import badge_service, fanout

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def advance_of(record: DynamoDBRecord) -> Advance | None:
    mark = watermark_advance(record)
    if mark is None or record.dynamodb is None:
        return None
    image = record.dynamodb.new_image
    return Advance(
        mark,
        by_send=image.get("lastReadBy") == "send",
        had_counts=bool(int(image.get("unreadCount") or 0) or int(image.get("mentionCount") or 0)),
    )


def receipts_for(batch: Plan) -> Callable[[DynamoDBRecord], None]:
    def send_receipt(record: DynamoDBRecord) -> None:
        mark = watermark_advance(record)
        if mark is None:
            return  # not a watermark move
        if mark in batch.receipts:  # else superseded later in this batch, or made by a send
            fanout().to_chat(mark.chat_id, encode(read_receipt(mark)), except_user=mark.user_id)
        if mark in batch.recounts:
            badge_service().chat_read(mark.chat_id, mark.user_id)  # the reader's badge, on every session

    return send_receipt


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    advances = (advance_of(DynamoDBRecord(raw)) for raw in event.get("Records", []))
    batch = plan(advance for advance in advances if advance is not None)
    return process_partial_response(
        event=event, record_handler=receipts_for(batch), processor=processor, context=context
    )
