"""`GET /api/chats/{chatId}/messages` (docs/protocol.md, "REST"): a chat's message history,
newest first, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tidings.messaging.message import Message

MAX_PAGE_LIMIT = 100


DEFAULT_PAGE_LIMIT = 50


@dataclass(frozen=True)
class MessagePage:
    """Newest first. `next_before` continues to older messages; None when there are none."""

    messages: list[Message]
    next_before: int | None

    def to_wire(self) -> dict[str, Any]:
        return {"messages": [message.to_wire() for message in self.messages], "nextBefore": self.next_before}
