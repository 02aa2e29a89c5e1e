"""Session frames (PROTOCOL.md §3): `hello`, `auth.renew`, `chat.focus`."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics, tracer
from tidings.kernel.router import Caller, FrameRoute, frame_routes
from tidings.kernel.wire import ClientFrame, ack_ok, iso
from tidings.sessions.wire import AuthRenewPayload, ChatFocusPayload, HelloPayload
from tidings.wiring import session_service


def hello(caller: Caller, frame: ClientFrame, payload: HelloPayload) -> dict[str, Any] | None:
    """`welcome`, or no reply at all: an unsupported version got its error frame through the
    @connections API and the connection is closed."""
    return session_service().hello(
        caller.connection_id, caller.user_id, frame.id, payload.protocolVersion, payload.client
    )


def renew(caller: Caller, frame: ClientFrame, payload: AuthRenewPayload) -> dict[str, Any]:
    expires_at = session_service().renew(caller.connection_id, caller.user_id, payload.token)
    return ack_ok(frame.id, expiresAt=iso(expires_at))


def focus(caller: Caller, frame: ClientFrame, payload: ChatFocusPayload) -> dict[str, Any]:
    session_service().focus(caller.connection_id, caller.user_id, payload.chatId)
    return ack_ok(frame.id, chatId=payload.chatId)


route = frame_routes(
    {
        "hello": FrameRoute(HelloPayload, hello),
        "auth.renew": FrameRoute(AuthRenewPayload, renew),
        "chat.focus": FrameRoute(ChatFocusPayload, focus),
    }
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return route(event)
