"""DynamoDB implementation of the chat store behind the chats REST API. Reads only."""

from __future__ import annotations

from collections.abc import Sequence

from pynamodb.exceptions import DoesNotExist

from tidings.chats.chat_list import ListedChat, Membership
from tidings.chats.models import ChatModel, MemberModel, UserModel
from tidings.messaging.message import Message
from tidings.messaging.models import MessageModel
from tidings.messaging.records import message_from_model


def _membership(item: MemberModel) -> Membership:
    return Membership(
        item.chat_id,
        item.user_id,
        item.role or "member",
        int(item.last_read_seq or 0),
        unread_count=int(item.unread_count or 0),
        mention_count=int(item.mention_count or 0),
    )


class DynamoChatStore:
    def memberships_of(self, user_id: str) -> list[Membership]:
        # `byUser` projects every attribute, so the caller's role and watermark come with it.
        return [_membership(item) for item in MemberModel.by_user.query(user_id)]

    def chats(self, chat_ids: Sequence[str]) -> dict[str, ListedChat]:
        # batch_get splits into BatchGetItem calls of 100 keys and retries unprocessed keys.
        found = ChatModel.batch_get(list(dict.fromkeys(chat_ids)))
        return {
            chat.chat_id: ListedChat(chat.chat_id, chat.name, chat.chat_type, int(chat.head_seq or 0)) for chat in found
        }

    def members_of(self, chat_id: str) -> list[Membership]:
        return [_membership(item) for item in MemberModel.query(chat_id)]

    def display_names(self, user_ids: Sequence[str]) -> dict[str, str]:
        users = UserModel.batch_get(list(dict.fromkeys(user_ids)), attributes_to_get=["userId", "displayName"])
        return {user.user_id: user.display_name for user in users}

    def is_member(self, chat_id: str, user_id: str) -> bool:
        try:
            MemberModel.get(chat_id, user_id, attributes_to_get=["userId"])
        except DoesNotExist:
            return False
        return True

    def messages_before(self, chat_id: str, before: int | None, limit: int) -> tuple[list[Message], bool]:
        """One Query, newest first, keeping `message` items only (edit, delete and reaction
        events hold no content; their effect is already on the message item). Reads one more
        message than asked to know whether there are older ones."""
        condition = MessageModel.seq < before if before is not None else None
        items = list(
            MessageModel.query(
                chat_id,
                condition,
                filter_condition=MessageModel.kind == "message",
                consistent_read=True,
                scan_index_forward=False,
                limit=limit + 1,
                page_size=limit + 1 + limit // 4,  # some room for the events between messages
            )
        )
        return [message_from_model(item) for item in items[:limit]], len(items) > limit
