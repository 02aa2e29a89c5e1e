"""DynamoDB implementation of the chat store behind the chats REST API. Reads only."""

from __future__ import annotations

from collections.abc import Sequence

from tidings.chats.chat_list import ListedChat, Membership
from tidings.chats.directory import confirmed_memberships
from tidings.chats.models import ChatModel, MemberModel, UserModel
from tidings.chats.rules import visibility_of


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
        # `byUser` projects every attribute, so the caller's role and watermark come with it;
        # the base table confirms each (the index may list a chat for a moment after a removal).
        listed = [_membership(item) for item in MemberModel.by_user.query(user_id)]
        still = confirmed_memberships(user_id, (m.chat_id for m in listed))
        return [m for m in listed if m.chat_id in still]

    def chats(self, chat_ids: Sequence[str]) -> dict[str, ListedChat]:
        # batch_get splits into BatchGetItem calls of 100 keys and retries unprocessed keys.
        found = ChatModel.batch_get(list(dict.fromkeys(chat_ids)))
        return {
            chat.chat_id: ListedChat(
                chat.chat_id,
                chat.name,
                chat.chat_type,
                int(chat.head_seq or 0),
                description=chat.description,
                visibility=visibility_of(chat.chat_type, chat.visibility),
                archived=bool(chat.archived),
            )
            for chat in found
        }

    def members_of(self, chat_id: str) -> list[Membership]:
        return [_membership(item) for item in MemberModel.query(chat_id)]

    def display_names(self, user_ids: Sequence[str]) -> dict[str, str]:
        users = UserModel.batch_get(list(dict.fromkeys(user_ids)), attributes_to_get=["userId", "displayName"])
        return {user.user_id: user.display_name for user in users}
