"""`message.edit`, `message.delete`, `message.react`: each change is a chat event with its own seq.

Fan-out of the resulting `message.updated` / `message.deleted` / `message.reaction` follows the
stream, like `message.new`.
"""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.domain.chat_events import EventOutcome
from tidings.edge.websocket import Caller, FrameRoute, frame_routes
from tidings.observability import logger, metrics, tracer
from tidings.protocol.frames import (
    ClientFrame,
    MessageDeletePayload,
    MessageEditPayload,
    MessageReactPayload,
    ack_ok,
)
from tidings.wiring import chat_event_service


def _ack(frame: ClientFrame, outcome: EventOutcome, **fields: Any) -> dict[str, Any]:
    message = outcome.message
    logger.info("chat event", extra={"chatId": message.chat_id, "messageId": message.message_id, "seq": outcome.seq})
    return ack_ok(frame.id, chatId=message.chat_id, seq=outcome.seq, messageId=message.message_id, **fields)


def edit(caller: Caller, frame: ClientFrame, payload: MessageEditPayload) -> dict[str, Any]:
    outcome = chat_event_service().edit(caller.user_id, frame.id, payload.messageId, payload.content)
    return _ack(frame, outcome, message=outcome.message.to_wire())


def delete(caller: Caller, frame: ClientFrame, payload: MessageDeletePayload) -> dict[str, Any]:
    return _ack(frame, chat_event_service().delete(caller.user_id, frame.id, payload.messageId))


def react(caller: Caller, frame: ClientFrame, payload: MessageReactPayload) -> dict[str, Any]:
    outcome = chat_event_service().react(caller.user_id, frame.id, payload.messageId, payload.emoji, payload.action)
    return _ack(frame, outcome, reactions=outcome.message.reactions)


route = frame_routes(
    {
        "message.edit": FrameRoute(MessageEditPayload, edit),
        "message.delete": FrameRoute(MessageDeletePayload, delete),
        "message.react": FrameRoute(MessageReactPayload, react),
    }
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return route(event)
