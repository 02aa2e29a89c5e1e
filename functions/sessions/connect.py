"""`$connect`: stores the authorized connection (findable by user), arms its token timer, and
closes the user's oldest connections beyond the limit of 5; the user is available from the first.
A session revoked since the authorizer ran refuses the connection (403, as the authorizer would)."""

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel import connections_api
from tidings.kernel.apigw_events import WebSocketConnectEvent
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.errors import Unauthorized
from tidings.kernel.handlers import websocket_entry
from tidings.kernel.observability import logger, metrics
from tidings.presence import compose as presence
from tidings.presence.presence_service import best_effort
from tidings.sessions import compose as sessions
from tidings.sessions.declaration import CONNECT
from tidings.sessions.session_service import SessionService


@cold_start(CONNECT)
def _admission(environment: Environment) -> SessionService:
    return sessions.admission(environment, poster=connections_api.poster(environment))


_presence = cold_start(CONNECT)(presence.presence_service)


@websocket_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = WebSocketConnectEvent.model_validate(event).request_context
    logger.thread_safe_append_keys(userId=request.authorizer.user_id, connectionId=request.connection_id)
    try:
        evicted = _admission().connected(
            connection_id=request.connection_id,
            user_id=request.authorizer.user_id,
            connected_at_ms=int(request.connected_at.timestamp() * 1000) or int(time.time() * 1000),
            token_expires_at=request.authorizer.token_expires_at,
            token_issued_at=request.authorizer.token_issued_at,
        )
    except Unauthorized:
        logger.info("connection refused: the session was revoked while it connected")
        return {"statusCode": 403}
    if evicted:
        logger.info("connection limit: oldest closed", extra={"evicted": evicted})
    metrics.add_metric(name="ConnectionsOpened", unit="Count", value=1)
    # After the connection is stored: presence never fails the connect (docs/architecture.md, "Presence").
    user_id, connection_id = request.authorizer.user_id, request.connection_id
    best_effort(lambda: _presence().connected(user_id, connection_id), "connect")
    return {"statusCode": 200}
