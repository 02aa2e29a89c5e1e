"""Messages stream consumer: keeps the search index in step with the chat event log.

INSERTs only (the event source filters the rest): a new message is indexed, an edit re-indexes
its message as stored now, a delete removes it (tidings.search.indexing). A record that fails
(search down) is reported alone; the mapping retries it, then sends it to the on-failure queue.
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
from tidings.wiring import search_indexer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def index(record: DynamoDBRecord) -> None:
    image = record.dynamodb.raw_event.get("NewImage") if record.dynamodb else None
    if record.event_name != DynamoDBRecordEventName.INSERT or not image:
        return
    kind = image.get("kind", {}).get("S", "message")
    item = message_from_stream_image(image)
    if kind == "message":
        search_indexer().message_created(item)
    elif kind == "edit":
        search_indexer().message_edited(item.chat_id, item.message_id, int(image["targetSeq"]["N"]))
    elif kind == "delete":
        search_indexer().message_deleted(item.message_id)
    else:
        return  # reactions change nothing searchable
    metrics.add_metric(name="SearchDocumentsIndexed", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=index, processor=processor, context=context)
