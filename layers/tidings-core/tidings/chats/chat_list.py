"""`GET /api/chats` (docs/protocol.md, "REST"): the caller's chat list.

`unreadCount` and `mentionCount` are the stored badges, so an offline user finds them here at
the next login; `muted` (level `off`) and `pinned` come from the user's notification
preferences, through the `Preferences` port (notifications' preference store, passed in by the
handler: the directory does not import the feature that keeps preferences)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tidings.chats.chat_member import ChatMember


@dataclass(frozen=True)
class Membership:
    chat_id: str
    user_id: str
    role: str
    last_read_seq: int
    unread_count: int = 0
    mention_count: int = 0


@dataclass(frozen=True)
class ListedChat:
    chat_id: str
    name: str | None
    chat_type: str
    head_seq: int
    description: str | None = None
    visibility: str = "private"
    archived: bool = False


@dataclass(frozen=True)
class ChatSummary:
    chat: ListedChat
    members: list[ChatMember]
    last_read_seq: int
    unread_count: int = 0
    mention_count: int = 0
    muted: bool = False
    pinned: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {
            "chatId": self.chat.chat_id,
            "name": self.chat.name,
            "type": self.chat.chat_type,
            "members": [member.to_wire() for member in self.members],
            "unreadCount": self.unread_count,
            "mentionCount": self.mention_count,
            "lastReadSeq": self.last_read_seq,
            "headSeq": self.chat.head_seq,
            "muted": self.muted,
            "pinned": self.pinned,
            "description": self.chat.description,
            "visibility": self.chat.visibility,
            "archived": self.chat.archived,
        }


class ChatStore(Protocol):
    def memberships_of(self, user_id: str) -> list[Membership]:
        """The user's memberships (Members `byUser` index)."""

    def chats(self, chat_ids: Sequence[str]) -> dict[str, ListedChat]:
        """The chats that exist among `chat_ids`."""

    def members_of(self, chat_id: str) -> list[Membership]: ...

    def display_names(self, user_ids: Sequence[str]) -> dict[str, str]: ...


class ChatMarks(Protocol):
    """What the chat list shows of one user's preferences."""

    def muted(self, chat_id: str, chat_type: str) -> bool: ...

    def pinned(self, chat_id: str) -> bool: ...


class Preferences(Protocol):
    def get(self, user_id: str) -> ChatMarks: ...


@dataclass(frozen=True)
class ChatService:
    store: ChatStore
    preferences: Preferences

    def list_chats(self, user_id: str) -> list[ChatSummary]:
        """The user's chats, in chat id order (clients sort by their own criteria)."""
        memberships = self.store.memberships_of(user_id)
        chats = self.store.chats([m.chat_id for m in memberships])
        members = {chat_id: self.store.members_of(chat_id) for chat_id in chats}
        names = self.store.display_names(sorted({m.user_id for ms in members.values() for m in ms}))
        prefs = self.preferences.get(user_id)
        return [
            ChatSummary(
                chat=chats[own.chat_id],
                members=[ChatMember(m.user_id, names.get(m.user_id, m.user_id), m.role) for m in members[own.chat_id]],
                last_read_seq=own.last_read_seq,
                unread_count=own.unread_count,
                mention_count=own.mention_count,
                muted=prefs.muted(own.chat_id, chats[own.chat_id].chat_type),
                pinned=prefs.pinned(own.chat_id),
            )
            for own in memberships
            if own.chat_id in chats
        ]
