"""Toasts: what a notification says, and how rapid ones group.

Messages of one chat sent within `GROUP_WINDOW_SECONDS` of the first (by their stored
`createdAt`, so however late the consumer handles them) share one toast:
the toast keeps its `id` and its `count` grows ("3 new messages in #general"), so a client
replaces the toast it shows instead of stacking another. The grouping state is a small record
per (user, chat) (`ToastGroups`), not a sleep. Urgent messages never hide inside a group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tidings.chats.directory import ChatInfo
from tidings.kernel.wire import server_frame
from tidings.messaging.message import Message
from tidings.notifications.push_delivery import notice_fields
from tidings.notifications.wire import ToastPayload

BODY_LIMIT = 100
ELLIPSIS = "…"
GROUP_WINDOW_SECONDS = 2.0
ACTIONS = ("reply", "markRead", "mute")


def chat_label(chat: ChatInfo) -> str:
    """How a toast names the chat: "#general", "Project X"."""
    name = chat.name or chat.chat_id
    return f"#{name}" if chat.chat_type == "channel" else name


@dataclass(frozen=True)
class ToastGroup:
    id: str
    count: int


class ToastGroups(Protocol):
    def join(self, user_id: str, chat_id: str, now: float, window_seconds: float) -> ToastGroup:
        """The user's open toast for the chat with this message counted in, or a new one
        when none was opened within the window."""


@dataclass(frozen=True)
class Toast:
    id: str
    title: str
    body: str
    chat_id: str
    message_id: str
    priority: str
    timestamp: str
    count: int = 1

    def frame(self) -> dict[str, Any]:
        return server_frame(
            "notification.toast",
            ToastPayload.model_validate({**notice_fields(self), "actions": list(ACTIONS), "count": self.count}),
        )


def cut(text: str, limit: int = BODY_LIMIT) -> str:
    """`text` in at most `limit` characters, the cut marked with "…"."""
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def toast_for(message: Message, chat: ChatInfo, group: ToastGroup) -> Toast:
    if group.count > 1:
        where = f"from {message.sender_name}" if chat.chat_type == "dm" else f"in {chat_label(chat)}"
        title = message.sender_name if chat.chat_type == "dm" else chat_label(chat)
        body = f"{group.count} new messages {where}"
    else:
        title = message.sender_name if chat.chat_type == "dm" else f"{message.sender_name} in {chat_label(chat)}"
        body = message.content or ("Sent an attachment" if message.attachments else "")
    return Toast(
        id=group.id,
        title=cut(title),
        body=cut(body),
        chat_id=message.chat_id,
        message_id=message.message_id,
        priority=message.priority,
        timestamp=message.created_at,
        count=group.count,
    )
