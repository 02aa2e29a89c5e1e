"""`message.edit`, `message.delete`, `message.react`: each change is a chat event with its own seq.

Fan-out of the resulting `message.updated` / `message.deleted` / `message.reaction` follows the
stream, like `message.new`.
"""

from typing import Any

from tidings.attachments import compose as attachments
from tidings.chats import compose as chats
from tidings.kernel import ratelimits
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.observability import logger
from tidings.kernel.router import Caller, FrameRoute, frame_handler, frame_routes
from tidings.kernel.wire import ClientFrame, ack_ok
from tidings.messaging import compose as messaging
from tidings.messaging.chat_events import ChatEventService, EventOutcome
from tidings.messaging.declaration import MESSAGE_EVENTS
from tidings.messaging.wire import MessageDeletePayload, MessageEditPayload, MessageReactPayload
from tidings.presence.activity import function_activity_hook


@cold_start(MESSAGE_EVENTS)
def _chat_events(environment: Environment) -> ChatEventService:
    return messaging.chat_events(
        environment,
        users=chats.user_directory(environment),
        limiter=ratelimits.rate_limiter(environment),
        attachments=attachments.sent_attachments(environment),
    )


def _ack(frame: ClientFrame, outcome: EventOutcome, **fields: Any) -> dict[str, Any]:
    message = outcome.message
    logger.info(
        "chat event",
        extra={
            "chatId": message.chat_id,
            "messageId": message.message_id,
            "seq": outcome.seq,
            "traceId": message.trace_id,
        },
    )
    # An edit, delete or reaction is part of its message's trace.
    return ack_ok(
        frame.id, message.trace_id, chatId=message.chat_id, seq=outcome.seq, messageId=message.message_id, **fields
    )


def edit(caller: Caller, frame: ClientFrame, payload: MessageEditPayload) -> dict[str, Any]:
    outcome = _chat_events().edit(caller.user_id, frame.id, payload.messageId, payload.content)
    return _ack(frame, outcome, message=outcome.message.to_wire())


def delete(caller: Caller, frame: ClientFrame, payload: MessageDeletePayload) -> dict[str, Any]:
    return _ack(frame, _chat_events().delete(caller.user_id, frame.id, payload.messageId))


def react(caller: Caller, frame: ClientFrame, payload: MessageReactPayload) -> dict[str, Any]:
    outcome = _chat_events().react(caller.user_id, frame.id, payload.messageId, payload.emoji, payload.action)
    return _ack(frame, outcome, reactions=outcome.message.reactions)


route = frame_routes(
    {
        "message.edit": FrameRoute(MessageEditPayload, edit),
        "message.delete": FrameRoute(MessageDeletePayload, delete),
        "message.react": FrameRoute(MessageReactPayload, react),
    },
    on_served=function_activity_hook(MESSAGE_EVENTS),
)

handler = frame_handler(route)
