"""Fan-out shards (the FanoutShards queue): one shard of a big chat's delivery, up to 250
connections and the frames they are owed, posted through the one delivery loop. A connection
that fails goes to the delivery retry queue on its own (a throttled one with a spread-out
backoff), a gone one is forgotten, and the job succeeds: nobody in the shard is posted to twice
(docs/architecture.md "Fan-out"). A job fails only when its body is not a shard (or the retry
queue cannot take a connection's retry): SQS redelivers it, and after 3 receives its redrive
policy parks it in the DLQ, which alarms."""

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings import assemblies
from tidings.kernel.handlers import consumer_entry
from tidings.messaging.declaration import FANOUT_WORKER
from tidings.messaging.fanout_shards import SHARD_JOBS

_batch = assemblies.redelivery_worker(
    FANOUT_WORKER, SHARD_JOBS, job="fan-out shard", malformed_metric="FanoutShardsMalformed"
)


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return _batch(event, context)
