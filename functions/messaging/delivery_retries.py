"""Delivery retries (the DeliveryRetries queue): frames that some connections could not take
(a 5xx or a throttle from the @connections API), posted again to just those connections. One
that fails again is re-enqueued with a longer delay, or given up after the last attempt
(docs/architecture.md "Fan-out"). A record fails only when its body is not a retry job (or the
queue cannot take the next retry): then SQS redelivers it, and its redrive policy parks it in
the DLQ."""

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings import assemblies
from tidings.kernel.connections_api import REDELIVERIES
from tidings.kernel.handlers import consumer_entry
from tidings.messaging.declaration import DELIVERY_RETRY

_batch = assemblies.redelivery_worker(
    DELIVERY_RETRY, REDELIVERIES, job="delivery retry job", malformed_metric="DeliveryRetriesMalformed"
)


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return _batch(event, context)
