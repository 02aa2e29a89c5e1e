"""Badges (PROTOCOL.md §7, seed §3.3): unread and mention counts per user and chat, and totals.

A new message raises the counts of every member but its sender, unless the member has the chat
focused on a connection. Counts change only through atomic counters; `read.mark` resets them by
a recount from the watermark. Every change sends `notification.badge` to all of the user's
connections; an offline user's counts wait in storage for `GET /api/chats`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tidings.domain.fanout import ConnectionPoster, MemberDirectory
from tidings.domain.messages import Message
from tidings.domain.push import PushNotification, PushQueue
from tidings.protocol.frames import encode, server_frame

BROADCASTS = ("@channel", "@here")


@dataclass(frozen=True)
class Badge:
    chat_id: str
    unread: int
    mentions: int
    total_unread: int
    total_mentions: int

    def frame(self) -> dict[str, Any]:
        return server_frame(
            "notification.badge",
            {
                "chatId": self.chat_id,
                "unreadCount": self.unread,
                "mentionCount": self.mentions,
                "totalUnreadCount": self.total_unread,
                "totalMentionCount": self.total_mentions,
            },
        )


class BadgeStore(Protocol):
    def increment(self, chat_id: str, user_id: str, mentioned: bool) -> Badge: ...

    def recount(self, chat_id: str, user_id: str) -> Badge:
        """Counts from the read watermark, stored with the totals adjusted by the difference."""


class Connections(Protocol):
    def for_user(self, user_id: str) -> list[str]: ...

    def focused_chats(self, connection_ids: list[str]) -> set[str]: ...

    def remove(self, connection_id: str) -> None: ...


def _offline_push(message: Message, user_id: str, badge: Badge) -> PushNotification:
    content = message.content or ""
    return PushNotification(
        user_id=user_id,
        id=str(uuid.uuid4()),
        title=message.sender_name,
        body=content if len(content) <= 100 else content[:99] + "…",
        chat_id=message.chat_id,
        message_id=message.message_id,
        priority=message.priority,
        timestamp=message.created_at,
        total_unread=badge.total_unread,
    )


def is_mentioned(message: Message, user_id: str) -> bool:
    return user_id in message.mentions or any(b in message.mentions for b in BROADCASTS)


class BadgeService:
    def __init__(
        self,
        store: BadgeStore,
        members: MemberDirectory,
        connections: Connections,
        poster: Callable[[], ConnectionPoster],
        push: PushQueue | None = None,
    ) -> None:
        self._push = push
        self._store = store
        self._members = members
        self._connections = connections
        self._poster = poster

    def message_arrived(self, message: Message) -> None:
        for user_id in self._members.member_ids(message.chat_id):
            if user_id == message.sender_id:
                continue  # your own messages are never unread
            connection_ids = self._connections.for_user(user_id)
            if message.chat_id in self._connections.focused_chats(connection_ids):
                continue  # the chat is on screen: no unread growth
            badge = self._store.increment(message.chat_id, user_id, is_mentioned(message, user_id))
            self._send(badge, connection_ids)
            if not connection_ids and self._push is not None:  # offline: push (until the evaluator lands)
                self._push.enqueue(_offline_push(message, user_id, badge))

    def chat_read(self, chat_id: str, user_id: str) -> Badge:
        badge = self._store.recount(chat_id, user_id)
        self._send(badge, self._connections.for_user(user_id))
        return badge

    def _send(self, badge: Badge, connection_ids: list[str]) -> None:
        data = encode(badge.frame())
        for connection_id in connection_ids:
            if not self._poster().post(connection_id, data):
                self._connections.remove(connection_id)
