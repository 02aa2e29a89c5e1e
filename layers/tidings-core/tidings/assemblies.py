"""Services put together from more than one feature, for the functions that share them.

A handler composes the features it uses itself (`functions/<feature>/`). Where several functions
need the same cross-feature assembly, it is written here once: this module sits beside
`tidings.app` in the application layer, so it may import every feature and no feature imports
it (the import-linter layers contract). Each assembly imports its features when it is called,
so a function that uses one assembly does not load the features of the others at cold start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tidings.kernel.declaration import Function
from tidings.kernel.environment import Environment, cold_start

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from tidings.kernel.connections_api import Redelivery
    from tidings.kernel.delay_queue import Codec
    from tidings.messaging.typing_indicators import TypingService


def typing_service(environment: Environment) -> TypingService:
    """Typing indicators as the `typing.*` routes and the typing expiry timers both use them."""
    from tidings.chats import compose as chats
    from tidings.kernel import connections_api, ratelimits
    from tidings.messaging import compose as messaging
    from tidings.sessions import compose as sessions

    members = chats.member_directory(environment)
    return messaging.typing(
        environment,
        poster=connections_api.poster(environment),
        members=members,
        membership=members,
        users=chats.user_directory(environment),
        connections=sessions.connection_store(environment),
        limiter=ratelimits.rate_limiter(environment),
    )


def rest_caller(app: APIGatewayHttpResolver, function: Function) -> Callable[[], str]:
    """`caller()` for an HTTP API function: the user of the request `app` is resolving, by its
    bearer token (`Unauthorized`, a 401, without a valid one). The token check (signature,
    expiry, revocation: the sessions feature) is built on the first request."""
    # Imported here: the typing service above is for WebSocket functions, which load no HTTP resolver.
    from tidings.kernel.rest import caller_id
    from tidings.sessions import compose as sessions

    authenticate = cold_start(function)(sessions.authenticate)
    return lambda: caller_id(app, authenticate())


def redelivery_worker(
    function: Function, codec: Codec[Redelivery], *, job: str, malformed_metric: str
) -> Callable[[dict[str, Any], LambdaContext], PartialItemFailureResponse]:
    """The batch of a queue of `Redelivery` jobs (the delivery retries, a big chat's fan-out
    shards), for the handler to wear its entry stanza on: each job posted through `Deliveries`
    (connections from the sessions feature, retries to the delivery retry queue), its outcome
    counted; a body that is not a job fails its record, so SQS redelivers it and its redrive
    policy parks it in the DLQ."""
    from aws_lambda_powertools.utilities.batch import EventType

    from tidings.kernel import connections_api
    from tidings.kernel.handlers import process_batch, queue_job
    from tidings.kernel.observability import record_scope
    from tidings.messaging import compose as messaging
    from tidings.sessions import compose as sessions

    @cold_start(function)
    def deliveries(environment: Environment) -> connections_api.Deliveries:
        poster, connections = connections_api.poster(environment), sessions.connection_store(environment)
        return messaging.deliveries(environment, poster=poster, connections=connections)

    def deliver(record: Any) -> None:
        redelivery = queue_job(record, codec, job=job, malformed_metric=malformed_metric)
        with record_scope(redelivery.trace_id):
            connections_api.count_delivery(deliveries().redeliver(redelivery))

    def batch(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        # A batch of nothing but poison is still a partial failure response, not an invocation error.
        return process_batch(event, context, deliver, EventType.SQS, poison_is_partial=True)

    return batch
