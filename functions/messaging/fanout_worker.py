"""Fan-out shards (the FanoutShards queue): one shard of a big chat's delivery, up to 250
connections and the frames they are owed, posted through the one delivery loop. A connection
that fails goes to the delivery retry queue on its own (a throttled one with a spread-out
backoff), a gone one is forgotten, and the job succeeds: nobody in the shard is posted to twice
(docs/architecture.md "Fan-out"). A job fails only when its body is not a shard (or the retry
queue cannot take a connection's retry): SQS redelivers it, and after 3 receives its redrive
policy parks it in the DLQ, which alarms."""

from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel import connections_api
from tidings.kernel.connections_api import Deliveries
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry, process_batch, queue_job
from tidings.kernel.observability import record_scope
from tidings.messaging import compose as messaging
from tidings.messaging.declaration import FANOUT_WORKER
from tidings.messaging.fanout_shards import SHARD_JOBS
from tidings.sessions import compose as sessions


@cold_start(FANOUT_WORKER)
def _deliveries(environment: Environment) -> Deliveries:
    return messaging.deliveries(
        environment, poster=connections_api.poster(environment), connections=sessions.connection_store(environment)
    )


def deliver(record: SQSRecord) -> None:
    job = queue_job(record, SHARD_JOBS, job="fan-out shard", malformed_metric="FanoutShardsMalformed")
    with record_scope(job.trace_id):
        connections_api.count_delivery(_deliveries().redeliver(job))


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # A batch of nothing but poison is still a partial failure response, not an invocation error.
    return process_batch(event, context, deliver, EventType.SQS, poison_is_partial=True)
