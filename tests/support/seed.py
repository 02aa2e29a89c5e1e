"""Small factories for users, chats and members."""

from __future__ import annotations

from tidings.chats.models import ChatModel, MemberModel, UserModel


def make_chat(chat_id: str, members: list[str], *, admins: tuple[str, ...] = (), chat_type: str = "group") -> None:
    ChatModel(chat_id, name=chat_id, chat_type=chat_type, head_seq=0, created_at="2026-11-25T00:00:00.000Z").save()
    for user_id in members:
        UserModel(user_id, display_name=user_id.capitalize()).save()
        MemberModel(
            chat_id,
            user_id,
            role="admin" if user_id in admins else "member",
            joined_at="2026-11-25T00:00:00.000Z",
        ).save()
