"""Presence timers (a delay queue): the idle check of each online period, and coalesced
`presence.update`s applied when the update interval is over."""

from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry, process_batch
from tidings.presence import compose as presence
from tidings.presence.declaration import PRESENCE_TIMERS_FUNCTION
from tidings.presence.presence_service import PresenceService
from tidings.presence.records import PRESENCE_TIMER_BODIES
from tidings.sessions import compose as sessions


@cold_start(PRESENCE_TIMERS_FUNCTION)
def _presence(environment: Environment) -> PresenceService:
    return presence.presence_service(environment, liveness=sessions.connection_liveness(environment))


def fire(record: SQSRecord) -> None:
    _presence().timer_fired(PRESENCE_TIMER_BODIES.decode(record.body))


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_batch(event, context, fire, EventType.SQS)
