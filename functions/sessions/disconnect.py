"""`$disconnect`: forgets the connection; the user goes offline if it was their last one."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.apigw_events import WebSocketDisconnectEvent
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import websocket_entry
from tidings.kernel.observability import logger, metrics
from tidings.presence import compose as presence
from tidings.presence.presence_service import best_effort
from tidings.sessions import compose as sessions
from tidings.sessions.connection_store import DynamoConnectionStore
from tidings.sessions.declaration import DISCONNECT


@cold_start(DISCONNECT)
def _connections(environment: Environment) -> DynamoConnectionStore:
    return sessions.connection_store(environment)


_presence = cold_start(DISCONNECT)(presence.presence_service)


@websocket_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = WebSocketDisconnectEvent.model_validate(event).request_context
    connection_id = request.connection_id
    logger.thread_safe_append_keys(connectionId=connection_id)
    user_id = request.authorizer.user_id if request.authorizer else _connections().user_of(connection_id)
    _connections().remove(connection_id, user_id)
    metrics.add_metric(name="ConnectionsClosed", unit="Count", value=1)
    if user_id is not None:  # presence never fails the disconnect
        best_effort(lambda: _presence().disconnected(user_id, connection_id), "disconnect")
    return {"statusCode": 200}
