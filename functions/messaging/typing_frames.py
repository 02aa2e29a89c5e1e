"""`typing.start` / `typing.stop`: forwarded to the other members; no reply on success.

Errors (not a member, a bad payload) still get an error ack, so a client author sees them.
"""

from tidings import assemblies
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.observability import metrics
from tidings.kernel.router import Caller, FrameRoute, frame_handler, frame_routes
from tidings.kernel.wire import ClientFrame
from tidings.messaging.declaration import TYPING
from tidings.messaging.typing_indicators import TypingService
from tidings.messaging.wire import ChatPayload
from tidings.presence.activity import function_activity_hook


@cold_start(TYPING)
def _typing(environment: Environment) -> TypingService:
    return assemblies.typing_service(environment)


def start(caller: Caller, frame: ClientFrame, payload: ChatPayload) -> None:
    if not _typing().start(caller.user_id, payload.chatId):
        metrics.add_metric(name="TypingDropped", unit="Count", value=1)


def stop(caller: Caller, frame: ClientFrame, payload: ChatPayload) -> None:
    _typing().stop(caller.user_id, payload.chatId)


route = frame_routes(
    {"typing.start": FrameRoute(ChatPayload, start), "typing.stop": FrameRoute(ChatPayload, stop)},
    on_served=function_activity_hook(TYPING),
)

handler = frame_handler(route)
