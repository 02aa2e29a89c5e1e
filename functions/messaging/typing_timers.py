"""Typing expiry timers (a delay queue): reports a typer stopped 5 s after the last start."""

from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings import assemblies
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry, process_batch
from tidings.messaging.declaration import TYPING_EXPIRY
from tidings.messaging.records import TYPING_TIMER_BODIES
from tidings.messaging.typing_indicators import TypingService


@cold_start(TYPING_EXPIRY)
def _typing(environment: Environment) -> TypingService:
    return assemblies.typing_service(environment)


def fire(record: SQSRecord) -> None:
    _typing().timer_fired(TYPING_TIMER_BODIES.decode(record.body))


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_batch(event, context, fire, EventType.SQS)
