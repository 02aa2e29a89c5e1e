"""Session frames (docs/protocol.md, "Sessions"): `hello`, `auth.renew`, `chat.focus`."""

from typing import Any

from tidings.chats import compose as chats
from tidings.kernel import connections_api
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.router import Caller, FrameRoute, frame_handler, frame_routes
from tidings.kernel.wire import ClientFrame, ack_ok, iso
from tidings.presence.activity import function_activity_hook
from tidings.sessions import compose as sessions
from tidings.sessions.declaration import SESSION
from tidings.sessions.session_service import SessionService
from tidings.sessions.wire import AuthRenewPayload, ChatFocusPayload, HelloPayload


@cold_start(SESSION)
def _sessions(environment: Environment) -> SessionService:
    return sessions.session_service(
        environment, poster=connections_api.poster(environment), members=chats.member_directory(environment)
    )


def hello(caller: Caller, frame: ClientFrame, payload: HelloPayload) -> dict[str, Any] | None:
    """`welcome`, or no reply at all: an unsupported version got its error frame through the
    @connections API and the connection is closed."""
    return _sessions().hello(caller.connection_id, caller.user_id, frame.id, payload.protocolVersion, payload.client)


def renew(caller: Caller, frame: ClientFrame, payload: AuthRenewPayload) -> dict[str, Any]:
    expires_at = _sessions().renew(caller.connection_id, caller.user_id, payload.token)
    return ack_ok(frame.id, expiresAt=iso(expires_at))


def focus(caller: Caller, frame: ClientFrame, payload: ChatFocusPayload) -> dict[str, Any]:
    _sessions().focus(caller.connection_id, caller.user_id, payload.chatId)
    return ack_ok(frame.id, chatId=payload.chatId)


route = frame_routes(
    {
        "hello": FrameRoute(HelloPayload, hello),
        "auth.renew": FrameRoute(AuthRenewPayload, renew),
        "chat.focus": FrameRoute(ChatFocusPayload, focus),
    },
    on_served=function_activity_hook(SESSION),
)

handler = frame_handler(route)
