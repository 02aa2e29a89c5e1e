"""Messages stream consumer: the notification pipeline for every new message (PROTOCOL.md §7).

For each recipient the evaluator (seed §3.2) decides: the badge, a toast for an online user, a
push job for an offline one. A delete takes its message out of the badges that counted it.
Edits and reactions notify nobody.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics, tracer
from tidings.messaging.records import message_from_stream_image
from tidings.wiring import badge_service, notification_service

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def notify(record: DynamoDBRecord) -> None:
    image = record.dynamodb.raw_event.get("NewImage") if record.dynamodb else None
    if record.event_name != DynamoDBRecordEventName.INSERT or not image:
        return
    kind = image.get("kind", {}).get("S", "message")
    if kind == "message":
        notification_service().message_arrived(message_from_stream_image(image))
    elif kind == "delete":
        badge_service().message_deleted(image["chatId"]["S"], int(image["targetSeq"]["N"]))
    # edits and reactions change no count


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=notify, processor=processor, context=context)
