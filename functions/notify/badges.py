"""Messages stream consumer: raises the unread and mention badges of every recipient.

Toasts, preferences, DND and push (the rest of PROTOCOL.md §7) will join this consumer.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.observability import logger, metrics, tracer
from tidings.storage.messages import message_from_stream_image
from tidings.wiring import badge_service

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def count(record: DynamoDBRecord) -> None:
    image = record.dynamodb.raw_event.get("NewImage") if record.dynamodb else None
    if record.event_name != DynamoDBRecordEventName.INSERT or not image:
        return
    if image.get("kind", {}).get("S", "message") != "message":
        return  # edits, deletes and reactions are not new unread messages
    badge_service().message_arrived(message_from_stream_image(image))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=count, processor=processor, context=context)
