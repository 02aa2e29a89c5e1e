"""`$disconnect`: forgets the connection."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.edge.events import WebSocketDisconnectEvent
from tidings.observability import logger, metrics, tracer
from tidings.wiring import connection_store


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = WebSocketDisconnectEvent.model_validate(event).request_context
    logger.append_keys(connectionId=request.connection_id)
    connection_store().remove(request.connection_id)
    metrics.add_metric(name="ConnectionsClosed", unit="Count", value=1)
    return {"statusCode": 200}
