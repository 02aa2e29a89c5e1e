"""Presence stream consumer: `presence.changed` to the subscribers of each user whose status
changed.

The event source's 2 s batching window gathers a batch; the batch is reduced to each user's
final status first, so a user flapping within the window costs one frame (or none, when the
flap ends where it began).
"""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel import connections_api
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry, planned_stream_records, process_batch
from tidings.kernel.observability import metrics
from tidings.presence import compose as presence
from tidings.presence.declaration import PRESENCE_CHANGES
from tidings.presence.presence_fanout import PresenceFanout, StatusChange, coalesce_changes
from tidings.presence.records import status_change
from tidings.sessions import compose as sessions


@cold_start(PRESENCE_CHANGES)
def _fanout(environment: Environment) -> PresenceFanout:
    return presence.presence_fanout(
        environment, poster=connections_api.poster(environment), connections=sessions.connection_store(environment)
    )


def announcer(final: dict[str, StatusChange]) -> Callable[[DynamoDBRecord], None]:
    def announce(record: DynamoDBRecord) -> None:
        change = status_change(record)
        if change is None or final.get(change.user_id) != change:
            return  # not a status change, or not the last one of its user in this batch
        delivered = _fanout().publish(change)
        metrics.add_metric(name="PresenceChangesDelivered", unit="Count", value=delivered)

    return announce


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    final = coalesce_changes(planned_stream_records(event, status_change))
    return process_batch(event, context, announcer(final), EventType.DynamoDBStreams)
