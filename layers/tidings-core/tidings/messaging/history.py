"""`GET /api/chats/{chatId}/messages` (docs/protocol.md, "REST"): a chat's message history,
newest first, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tidings.kernel.errors import Forbidden
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


class HistoryMembers(Protocol):
    def is_member(self, chat_id: str, user_id: str) -> bool: ...


class HistoryStore(Protocol):
    def messages_before(self, chat_id: str, before: int | None, limit: int) -> tuple[list[Message], bool]:
        """At most `limit` messages (not events) with seq < before, newest first, and whether
        there are older ones."""


@dataclass(frozen=True)
class HistoryService:
    store: HistoryStore
    members: HistoryMembers

    def messages(self, user_id: str, chat_id: str, before: int | None, limit: int) -> MessagePage:
        """A page of the chat's messages, newest first, older than `before` (the newest when
        None). Deleted messages are in it as tombstones (`deleted: true`, no content)."""
        if not self.members.is_member(chat_id, user_id):
            raise Forbidden(f"You are not a member of chat {chat_id!r}")
        messages, older = self.store.messages_before(chat_id, before, limit)
        return MessagePage(messages, messages[-1].seq if older and messages else None)
