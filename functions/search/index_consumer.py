"""Messages stream consumer: keeps the search index in step with the chat event log.

INSERTs only (the event source filters the rest): a new message is indexed, an edit re-indexes
its message as stored now, a delete removes it (tidings.search.indexing). A record that fails
(search down) is reported alone; the mapping retries it, then sends it to the on-failure queue.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry, process_batch
from tidings.kernel.observability import logger, metrics, record_scope
from tidings.messaging import compose as messaging
from tidings.messaging.records import chat_event
from tidings.search import compose as search
from tidings.search.declaration import SEARCH_INDEXER
from tidings.search.indexing import SearchIndexer


@cold_start(SEARCH_INDEXER)
def _indexer(environment: Environment) -> SearchIndexer:
    return search.search_indexer(environment, load_message=messaging.message_store(environment).get)


def index(record: DynamoDBRecord) -> None:
    event = chat_event(record)
    if event is None:
        return
    with record_scope(event.item.trace_id):
        if event.kind == "message":
            _indexer().message_created(event.item)
        elif event.kind == "edit" and event.target_seq is not None:
            _indexer().message_edited(event.item.chat_id, event.item.message_id, event.target_seq)
        elif event.kind == "delete":
            _indexer().message_deleted(event.item.message_id)
        else:
            return  # reactions change nothing searchable
        logger.info(
            "search index updated", extra={"chatId": event.item.chat_id, "seq": event.item.seq, "kind": event.kind}
        )
        metrics.add_metric(name="SearchDocumentsIndexed", unit="Count", value=1)


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_batch(event, context, index, EventType.DynamoDBStreams)
