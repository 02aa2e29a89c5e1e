"""Chat events as server frames (PROTOCOL.md §4). Fan-out sends them; sync will replay them."""

from __future__ import annotations

from typing import Any

from tidings.domain.messages import Message
from tidings.protocol.frames import server_frame


def message_new(message: Message) -> dict[str, Any]:
    return server_frame("message.new", {"chatId": message.chat_id, "seq": message.seq, "message": message.to_wire()})
