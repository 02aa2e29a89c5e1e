"""`typing.start` / `typing.stop`: forwarded to the other members; no reply on success.

Errors (not a member, a bad payload) still get an error ack, so a client author sees them.
"""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.edge.websocket import Caller, FrameRoute, frame_routes
from tidings.observability import logger, metrics, tracer
from tidings.protocol.frames import ChatPayload, ClientFrame
from tidings.wiring import typing_service


def start(caller: Caller, frame: ClientFrame, payload: ChatPayload) -> None:
    if not typing_service().start(caller.user_id, payload.chatId):
        metrics.add_metric(name="TypingDropped", unit="Count", value=1)


def stop(caller: Caller, frame: ClientFrame, payload: ChatPayload) -> None:
    typing_service().stop(caller.user_id, payload.chatId)


route = frame_routes({"typing.start": FrameRoute(ChatPayload, start), "typing.stop": FrameRoute(ChatPayload, stop)})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return route(event)
