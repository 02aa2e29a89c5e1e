"""Push notifications for offline users (PROTOCOL.md §7, seed §3.2, §3.5).

The Notify consumer decides *that* a user gets a push (the evaluator) and enqueues a
`PushNotification`; the push worker decides *how*: it reads the user's subscriptions and sends
through Web Push, FCM or APNs. The queue between them keeps a slow or dead push service from
ever delaying badges or toasts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class PushNotification:
    """What one user's devices are told about one message (or a group of them)."""

    user_id: str
    id: str  # the toast id: a device may replace an earlier notification with the same id
    title: str
    body: str
    chat_id: str
    message_id: str
    priority: str  # "normal" | "urgent"
    timestamp: str
    count: int = 1
    total_unread: int = 0  # the app icon's badge

    def to_payload(self) -> dict[str, Any]:
        """The JSON a device receives (Web Push payload, FCM data, APNs custom keys)."""
        return {
            "type": "notification.push",
            "id": self.id,
            "title": self.title,
            "body": self.body,
            "chatId": self.chat_id,
            "messageId": self.message_id,
            "priority": self.priority,
            "timestamp": self.timestamp,
            "count": self.count,
            "badge": self.total_unread,
        }

    def to_job(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_job(cls, job: dict[str, Any]) -> PushNotification:
        return cls(**{name: job[name] for name in cls.__dataclass_fields__ if name in job})


class PushQueue(Protocol):
    def enqueue(self, notification: PushNotification) -> None: ...
