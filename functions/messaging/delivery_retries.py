"""Delivery retries (the DeliveryRetries queue): frames that some connections could not take
(a 5xx or a throttle from the @connections API), posted again to just those connections. One
that fails again is re-enqueued with a longer delay, or given up after the last attempt
(docs/architecture.md "Fan-out"). A record fails only when its body is not a retry job (or the
queue cannot take the next retry): then SQS redelivers it, and its redrive policy parks it in
the DLQ."""

from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel import connections_api
from tidings.kernel.connections_api import REDELIVERIES, Deliveries
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry, process_batch, queue_job
from tidings.kernel.observability import record_scope
from tidings.messaging import compose as messaging
from tidings.messaging.declaration import DELIVERY_RETRY
from tidings.sessions import compose as sessions


@cold_start(DELIVERY_RETRY)
def _deliveries(environment: Environment) -> Deliveries:
    poster, connections = connections_api.poster(environment), sessions.connection_store(environment)
    return messaging.deliveries(environment, poster=poster, connections=connections)


def deliver(record: SQSRecord) -> None:
    redelivery = queue_job(record, REDELIVERIES, job="delivery retry job", malformed_metric="DeliveryRetriesMalformed")
    with record_scope(redelivery.trace_id):
        connections_api.count_delivery(_deliveries().redeliver(redelivery))


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # A batch of nothing but poison is still a partial failure response, not an invocation error.
    return process_batch(event, context, deliver, EventType.SQS, poison_is_partial=True)
