"""The one way a Lambda entry point is dressed: Powertools' decorator stanza and, for the stream
and queue consumers, partial batch responses. Every handler in `functions/` is one of these.

The stanza: `inject_lambda_context(clear_state=True)` starts each invocation's log keys from its
own Lambda context (with the API Gateway request id as correlation id for API routes),
`log_metrics` flushes the invocation's metrics, `capture_lambda_handler` traces it (where
tracing is on: elsewhere the X-Ray SDK is not even imported).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics, tracer, tracing_enabled

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import EventType
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from tidings.kernel.delay_queue import Codec

Handler = Callable[[dict[str, Any], LambdaContext], Any]
H = TypeVar("H", bound=Handler)
J = TypeVar("J")


def _stanza(correlation_id_path: str | None, traced: bool = True) -> Callable[[H], H]:
    def dress(handler: H) -> H:
        if traced and tracing_enabled():
            handler = tracer().capture_lambda_handler(handler)  # type: ignore[assignment]
        handler = metrics.log_metrics(handler)  # type: ignore[assignment]
        return logger.inject_lambda_context(correlation_id_path=correlation_id_path, clear_state=True)(handler)  # type: ignore[no-any-return]

    return dress


websocket_entry = _stanza(correlation_paths.API_GATEWAY_REST)
"""A WebSocket route's handler (`$connect`, `$disconnect` and the frame routes)."""

http_entry = _stanza(correlation_paths.API_GATEWAY_HTTP)
"""An HTTP API route's handler."""

consumer_entry = _stanza(None)
"""A stream or queue consumer's handler, or one an operator invokes."""

authorizer_entry = _stanza(None, traced=False)
"""The `$connect` authorizer's handler: logs and metrics, no trace of its own."""


def process_batch(
    event: dict[str, Any],
    context: LambdaContext,
    record_handler: Callable[[Any], None],
    event_type: EventType,
    *,
    poison_is_partial: bool = False,
) -> PartialItemFailureResponse:
    """Runs `record_handler` on each record and reports the ones that raised
    (`ReportBatchItemFailures`), so the event source retries only those. `poison_is_partial`:
    a batch in which every record failed is still a partial response, not an invocation error
    (for queues whose bad jobs go to a dead-letter queue by their redrive policy)."""
    # Imported here: Powertools' batch utility loads its pydantic models of every event source,
    # which only the consumers need (and they import `EventType` from it anyway).
    from aws_lambda_powertools.utilities.batch import BatchProcessor, process_partial_response

    processor = BatchProcessor(event_type=event_type, raise_on_entire_batch_failure=not poison_is_partial)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


def planned_stream_records(event: dict[str, Any], parse: Callable[[DynamoDBRecord], J | None]) -> list[J]:
    """What `parse` makes of each stream record of the batch, leaving out the records it is not
    about: for consumers that look at the whole batch before handling any record of it (to
    coalesce, or to skip what a later record supersedes)."""
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

    return [item for raw in event.get("Records", []) if (item := parse(DynamoDBRecord(raw))) is not None]


def queue_job(record: SQSRecord, codec: Codec[J], *, job: str, malformed_metric: str) -> J:
    """The job a queue record carries. A body that is not one is logged and counted, then raised:
    SQS redelivers it, and the queue's redrive policy parks it in the dead-letter queue."""
    try:
        return codec.decode(record.body)
    except (ValueError, KeyError, TypeError):
        logger.error(f"not a {job}; left to the DLQ", extra={"sqsMessageId": record.message_id})
        metrics.add_metric(name=malformed_metric, unit="Count", value=1)
        raise
