"""Delivery retries (the DeliveryRetries queue): frames that some connections could not take
(a 5xx or a throttle from the @connections API), posted again to just those connections. One
that fails again is re-enqueued with a longer delay, or given up after the last attempt
(docs/architecture.md "Fan-out"). A record fails only when its body is not a retry job (or the
queue cannot take the next retry): then SQS redelivers it, and its redrive policy parks it in
the DLQ."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.delay_queue import redelivery_from_body
from tidings.kernel.observability import logger, metrics, tracer
from tidings.wiring import deliveries

# A batch of nothing but poison is still a partial failure response, not an invocation error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def deliver(record: SQSRecord) -> None:
    try:
        job = redelivery_from_body(record.body)
    except ValueError:
        logger.error("not a delivery retry job; left to the DLQ", extra={"sqsMessageId": record.message_id})
        metrics.add_metric(name="DeliveryRetriesMalformed", unit="Count", value=1)
        raise
    report = deliveries().redeliver(job)
    metrics.add_metric(name="FramesDelivered", unit="Count", value=report.delivered)
    metrics.add_metric(name="DeliveriesRetried", unit="Count", value=report.retrying)
    metrics.add_metric(name="DeliveriesGivenUp", unit="Count", value=report.given_up)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=deliver, processor=processor, context=context)
