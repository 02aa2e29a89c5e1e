"""`read.mark`: moves the reader's watermark forward; receipts follow the Members stream."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.kernel.observability import logger, metrics, tracer
from tidings.kernel.router import Caller, frame_route
from tidings.kernel.wire import ClientFrame, ack_ok
from tidings.messaging.wire import ReadMarkPayload
from tidings.wiring import read_service


def mark_read(caller: Caller, frame: ClientFrame, payload: ReadMarkPayload) -> dict[str, Any]:
    mark = read_service().mark(caller.user_id, payload.chatId, payload.messageId)
    return ack_ok(frame.id, chatId=mark.chat_id, messageId=mark.message_id, seq=mark.seq)


route = frame_route(ReadMarkPayload, mark_read)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return route(event)
