"""`read.mark`: moves the reader's watermark forward; receipts follow the Members stream."""

from typing import Any

from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.router import Caller, frame_handler, frame_route
from tidings.kernel.wire import ClientFrame, ack_ok
from tidings.messaging import compose as messaging
from tidings.messaging.declaration import READ_MARK
from tidings.messaging.receipts import ReadService
from tidings.messaging.wire import ReadMarkPayload
from tidings.presence.activity import function_activity_hook


@cold_start(READ_MARK)
def _read_marks(environment: Environment) -> ReadService:
    return messaging.read_marks(environment)


def mark_read(caller: Caller, frame: ClientFrame, payload: ReadMarkPayload) -> dict[str, Any]:
    mark = _read_marks().mark(caller.user_id, payload.chatId, payload.messageId)
    return ack_ok(frame.id, chatId=mark.chat_id, messageId=mark.message_id, seq=mark.seq)


route = frame_route(ReadMarkPayload, mark_read, on_served=function_activity_hook(READ_MARK))

handler = frame_handler(route)
