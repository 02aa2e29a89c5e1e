"""Presence stream consumer: `presence.changed` to the subscribers of each user whose status
changed.

The event source's 2 s batching window gathers a batch; the batch is reduced to each user's
final status first, so a user flapping within the window costs one frame (or none, when the
flap ends where it began).
"""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics, tracer
from tidings.presence.presence_fanout import StatusChange, coalesce_changes
from tidings.presence.records import status_change
from tidings.wiring import presence_fanout

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def announcer(final: dict[str, StatusChange]) -> Callable[[DynamoDBRecord], None]:
    def announce(record: DynamoDBRecord) -> None:
        change = status_change(record)
        if change is None or final.get(change.user_id) != change:
            return  # not a status change, or not the last one of its user in this batch
        delivered = presence_fanout().publish(change)
        metrics.add_metric(name="PresenceChangesDelivered", unit="Count", value=delivered)

    return announce


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    changes = (status_change(DynamoDBRecord(raw)) for raw in event.get("Records", []))
    final = coalesce_changes(change for change in changes if change is not None)
    return process_partial_response(event=event, record_handler=announcer(final), processor=processor, context=context)
