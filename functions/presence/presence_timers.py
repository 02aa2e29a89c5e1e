"""Presence timers (a delay queue): the idle check of each online period, and coalesced
`presence.update`s applied when the update interval is over."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics, tracer
from tidings.presence.timer_queue import presence_timer_from_body
from tidings.wiring import presence_service

processor = BatchProcessor(event_type=EventType.SQS)


def fire(record: SQSRecord) -> None:
    presence_service().timer_fired(presence_timer_from_body(record.body))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=fire, processor=processor, context=context)
