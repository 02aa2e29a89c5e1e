"""`message.send`: validate, authorize, allocate seq, write idempotently, ack. No fan-out here."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics, tracer
from tidings.kernel.router import Caller, frame_route
from tidings.kernel.wire import ClientFrame, ack_ok
from tidings.messaging.sending import SendMessage
from tidings.messaging.wire import MessageSendPayload
from tidings.wiring import message_service


def send_message(caller: Caller, frame: ClientFrame, payload: MessageSendPayload) -> dict[str, Any]:
    message = message_service().send(
        caller.user_id,
        SendMessage(
            request_id=frame.id,
            chat_id=payload.chatId,
            content=payload.content,
            reply_to=payload.replyTo,
            attachments=[a.model_dump(exclude_none=True) for a in payload.attachments],
            priority=payload.priority,
        ),
    )
    logger.info(
        "message stored",
        extra={"chatId": message.chat_id, "messageId": message.message_id, "seq": message.seq},
    )
    metrics.add_metric(name="MessagesSent", unit="Count", value=1)
    return ack_ok(frame.id, message=message.to_wire())


route = frame_route(MessageSendPayload, send_message)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return route(event)
