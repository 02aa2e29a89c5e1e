"""Members stream consumer: when a watermark moves, sends `read.receipt` to the other members
and recounts the reader's badge (`notification.badge` to all of the reader's connections).

The event source's batching window coalesces bursts: one receipt per reader per chat per batch,
with the highest seq.
"""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.domain.receipts import Watermark, coalesce, read_receipt
from tidings.edge.member_stream import watermark_advance
from tidings.observability import logger, metrics, tracer
from tidings.protocol.frames import encode
from tidings.wiring import badge_service, fanout

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def receipts_for(latest: set[Watermark]) -> Callable[[DynamoDBRecord], None]:
    def send_receipt(record: DynamoDBRecord) -> None:
        mark = watermark_advance(record)
        if mark is None or mark not in latest:
            return  # not a watermark move, or superseded later in this batch
        fanout().to_chat(mark.chat_id, encode(read_receipt(mark)), except_user=mark.user_id)
        badge_service().chat_read(mark.chat_id, mark.user_id)  # the reader's badge, on every session

    return send_receipt


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    advances = (watermark_advance(DynamoDBRecord(raw)) for raw in event.get("Records", []))
    latest = set(coalesce(mark for mark in advances if mark is not None))
    return process_partial_response(
        event=event, record_handler=receipts_for(latest), processor=processor, context=context
    )
