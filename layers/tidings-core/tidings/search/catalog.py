"""What a rebuild of the index reads: every chat, and each chat's messages. Queries only."""

from __future__ import annotations

from collections.abc import Iterator

from tidings.chats.directory import CHAT_TYPES
from tidings.chats.models import ChatModel
from tidings.messaging.message import Message
from tidings.messaging.models import MessageModel
from tidings.messaging.records import message_from_model


class DynamoMessageCatalog:
    def chat_ids(self) -> Iterator[str]:
        """Every chat, through the Chats.byType index: one Query per chat type."""
        for chat_type in CHAT_TYPES:
            for chat in ChatModel.by_type.query(chat_type):
                yield chat.chat_id

    def messages(self, chat_id: str) -> Iterator[Message]:
        for item in MessageModel.query(chat_id, filter_condition=MessageModel.kind == "message"):
            yield message_from_model(item)
