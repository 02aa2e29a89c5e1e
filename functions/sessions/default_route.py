"""`$default` and `ping`: answers heartbeats, and every frame no route matched."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics, tracer
from tidings.kernel.router import answer_unrouted_frame, frame_route
from tidings.kernel.wire import EmptyPayload

route = frame_route(EmptyPayload, answer_unrouted_frame)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return route(event)
