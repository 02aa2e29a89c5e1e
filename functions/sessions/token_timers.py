"""Token timers (a delay queue): `token.refresh` before a connection's token expires, and the
close (`error UNAUTHORIZED`) when it has, unless `auth.renew` moved the expiry.

Partial batch responses: a timer that fails (the @connections API erred, say) is reported in
`batchItemFailures` and redelivered after the visibility timeout; the others are done.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics, tracer
from tidings.sessions.token_queue import token_timer_from_body
from tidings.wiring import token_timers

processor = BatchProcessor(event_type=EventType.SQS)


def fire(record: SQSRecord) -> None:
    token_timers().fire(token_timer_from_body(record.body))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=fire, processor=processor, context=context)
