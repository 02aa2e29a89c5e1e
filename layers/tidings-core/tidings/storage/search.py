"""What search reads from DynamoDB: the searcher's chats and their people, and (for a
rebuild) every chat's messages. Queries and BatchGetItems only, never a Scan."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from tidings.domain.messages import Message
from tidings.search.service import ChatInfo, Person
from tidings.storage.messages import message_from_model
from tidings.storage.models import ChatModel, MemberModel, MessageModel, UserModel

CHAT_TYPES = ("dm", "group", "channel")


class DynamoSearchDirectory:
    def chats_of(self, user_id: str) -> list[ChatInfo]:
        """One Query on Members.byUser, one BatchGetItem of the chats."""
        chat_ids = [m.chat_id for m in MemberModel.by_user.query(user_id)]
        if not chat_ids:
            return []
        chats = ChatModel.batch_get(chat_ids, attributes_to_get=["chatId", "name", "type"])
        return sorted((ChatInfo(c.chat_id, c.name, c.chat_type) for c in chats), key=lambda c: c.chat_id)

    def people_in(self, chat_ids: Sequence[str]) -> list[Person]:
        """One Query of members per chat, one BatchGetItem of display names."""
        user_ids: dict[str, None] = {}
        for chat_id in chat_ids:
            for member in MemberModel.query(chat_id, attributes_to_get=["userId"]):
                user_ids.setdefault(member.user_id, None)
        if not user_ids:
            return []
        names = {
            u.user_id: u.display_name
            for u in UserModel.batch_get(list(user_ids), attributes_to_get=["userId", "displayName"])
        }
        return [Person(user_id, names.get(user_id, user_id)) for user_id in user_ids]


class DynamoMessageCatalog:
    def chat_ids(self) -> Iterator[str]:
        """Every chat, through the Chats.byType index: one Query per chat type."""
        for chat_type in CHAT_TYPES:
            for chat in ChatModel.by_type.query(chat_type):
                yield chat.chat_id

    def messages(self, chat_id: str) -> Iterator[Message]:
        for item in MessageModel.query(chat_id, filter_condition=MessageModel.kind == "message"):
            yield message_from_model(item)
