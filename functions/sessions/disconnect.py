"""`$disconnect`: forgets the connection; the user goes offline if it was their last one."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.apigw_events import WebSocketDisconnectEvent
from tidings.kernel.observability import logger, metrics, tracer
from tidings.presence.presence_service import best_effort
from tidings.wiring import connection_store, presence_service


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = WebSocketDisconnectEvent.model_validate(event).request_context
    connection_id = request.connection_id
    logger.thread_safe_append_keys(connectionId=connection_id)
    user_id = request.authorizer.user_id if request.authorizer else connection_store().user_of(connection_id)
    connection_store().remove(connection_id, user_id)
    metrics.add_metric(name="ConnectionsClosed", unit="Count", value=1)
    if user_id is not None:  # presence never fails the disconnect (seed §8.4)
        best_effort(lambda: presence_service().disconnected(user_id, connection_id), "disconnect")
    return {"statusCode": 200}
