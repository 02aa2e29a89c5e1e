"""`message.send`: validate, authorize, allocate seq, write idempotently, ack. No fan-out here."""

from typing import Any

from tidings.attachments import compose as attachments
from tidings.chats import compose as chats
from tidings.kernel import ratelimits
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.observability import logger, metrics
from tidings.kernel.router import Caller, frame_handler, frame_route
from tidings.kernel.wire import ClientFrame, ack_ok, trace_id_of
from tidings.messaging import compose as messaging
from tidings.messaging.declaration import MESSAGE_SEND
from tidings.messaging.sending import MessageService, SendMessage
from tidings.messaging.wire import MessageSendPayload
from tidings.presence.activity import function_activity_hook


@cold_start(MESSAGE_SEND)
def _sending(environment: Environment) -> MessageService:
    return messaging.message_sending(
        environment,
        users=chats.user_directory(environment),
        limiter=ratelimits.rate_limiter(environment),
        attachments=attachments.sent_attachments(environment),
    )


def send_message(caller: Caller, frame: ClientFrame, payload: MessageSendPayload) -> dict[str, Any]:
    message = _sending().send(
        caller.user_id,
        SendMessage(
            request_id=frame.id,
            chat_id=payload.chatId,
            content=payload.content,
            reply_to=payload.replyTo,
            attachment_ids=[attachment.attachmentId for attachment in payload.attachments],
            priority=payload.priority,
            trace_id=trace_id_of(frame.traceId),
        ),
    )
    # A retry answers with the message first stored, and so with its trace id.
    logger.info(
        "message stored",
        extra={
            "chatId": message.chat_id,
            "messageId": message.message_id,
            "seq": message.seq,
            "traceId": message.trace_id,
        },
    )
    metrics.add_metric(name="MessagesSent", unit="Count", value=1)
    return ack_ok(frame.id, message.trace_id, message=message.to_wire())


route = frame_route(MessageSendPayload, send_message, on_served=function_activity_hook(MESSAGE_SEND))

handler = frame_handler(route)
