"""Typing expiry timers (a delay queue): reports a typer stopped 5 s after the last start."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics, tracer
from tidings.messaging.typing_queue import typing_timer_from_body
from tidings.wiring import typing_service

processor = BatchProcessor(event_type=EventType.SQS)


def fire(record: SQSRecord) -> None:
    typing_service().timer_fired(typing_timer_from_body(record.body))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=fire, processor=processor, context=context)
