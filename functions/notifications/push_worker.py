"""Push worker (the PushJobs queue): sends each job to the user's Web Push, FCM and APNs
subscriptions. Per-subscription failures are retried by re-enqueueing with backoff (see
`tidings.notifications.push_delivery.PushDelivery`), so a record fails only when its body is not a push job
(or storage fails): then SQS redelivers it and its redrive policy parks it in the DLQ."""

from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry, process_batch, queue_job
from tidings.kernel.observability import logger, metrics, record_scope
from tidings.notifications import compose as notifications
from tidings.notifications.declaration import PUSH_WORKER
from tidings.notifications.push_delivery import Delivery, PushDelivery, PushOutcome
from tidings.notifications.records import PUSH_JOB_BODIES


@cold_start(PUSH_WORKER)
def _push_delivery(environment: Environment) -> PushDelivery:
    return notifications.push_delivery(environment)


# One metric name per outcome, suffixed with the platform (e.g. `PushSent.webpush`).
METRIC_NAMES = {
    PushOutcome.SENT: "PushSent",
    PushOutcome.EXPIRED: "PushExpired",
    PushOutcome.RETRYING: "PushRetried",
    PushOutcome.GAVE_UP: "PushGaveUp",
    PushOutcome.FAILED: "PushFailed",
    PushOutcome.UNCONFIGURED: "PushSkippedUnconfigured",
}
WARNINGS = {PushOutcome.RETRYING, PushOutcome.GAVE_UP, PushOutcome.FAILED, PushOutcome.UNCONFIGURED}


def _report(delivery: Delivery, user_id: str) -> None:
    metrics.add_metric(name=f"{METRIC_NAMES[delivery.outcome]}.{delivery.platform}", unit="Count", value=1)
    extra = {
        "userId": user_id,
        "subscriptionId": delivery.subscription_id,
        "platform": delivery.platform,
        "outcome": delivery.outcome.value,
        "attempt": delivery.attempt,
        "status": delivery.status,
        "delaySeconds": delivery.delay_seconds,
        "detail": delivery.detail,
    }
    if delivery.outcome in WARNINGS:
        logger.warning(f"push {delivery.outcome.value}", extra=extra)
    else:
        logger.info(f"push {delivery.outcome.value}", extra=extra)


def deliver(record: SQSRecord) -> None:
    job = queue_job(record, PUSH_JOB_BODIES, job="push job", malformed_metric="PushJobsMalformed")
    with record_scope(job.trace_id):
        for delivery in _push_delivery().deliver(job):
            _report(delivery, job.notification.user_id)


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # A batch of nothing but poison is still a partial failure response, not an invocation error.
    return process_batch(event, context, deliver, EventType.SQS, poison_is_partial=True)
