"""Chat events as server frames (PROTOCOL.md §4). Fan-out sends them; sync replays them.

An event is rendered with the message as it is now: a client that applies events in seq order
converges on the current state, and a deleted message's content is never sent again.
"""

from __future__ import annotations

from typing import Any

from tidings.domain.messages import Message
from tidings.kernel.wire import server_frame

KINDS = ("message", "edit", "delete", "reaction")


def message_new(message: Message) -> dict[str, Any]:
    return event_frame("message", message.seq, message)


def event_frame(kind: str, seq: int, message: Message) -> dict[str, Any]:
    """The frame for the chat event of `kind` recorded at `seq` about `message`."""
    base = {"chatId": message.chat_id, "seq": seq}
    if kind == "message":
        return server_frame("message.new", {**base, "message": message.to_wire()})
    if kind == "edit":
        return server_frame("message.updated", {**base, "message": message.to_wire()})
    if kind == "delete":
        return server_frame("message.deleted", {**base, "messageId": message.message_id})
    if kind == "reaction":
        return server_frame(
            "message.reaction", {**base, "messageId": message.message_id, "reactions": message.reactions}
        )
    raise ValueError(f"unknown chat event kind {kind!r}")
