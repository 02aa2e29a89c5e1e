"""Token timers (a delay queue): `token.refresh` before a connection's token expires, and the
close (`error UNAUTHORIZED`) when it has, unless `auth.renew` moved the expiry.

Partial batch responses: a timer that fails (the @connections API erred, say) is reported in
`batchItemFailures` and redelivered after the visibility timeout; the others are done.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel import connections_api
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry, process_batch
from tidings.sessions import compose as sessions
from tidings.sessions.declaration import SESSION_TIMERS
from tidings.sessions.records import TOKEN_TIMER_BODIES
from tidings.sessions.token_expiry import TokenTimerService


@cold_start(SESSION_TIMERS)
def _token_timers(environment: Environment) -> TokenTimerService:
    return sessions.token_timers(environment, poster=connections_api.poster(environment))


def fire(record: SQSRecord) -> None:
    _token_timers().fire(TOKEN_TIMER_BODIES.decode(record.body))


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_batch(event, context, fire, EventType.SQS)
