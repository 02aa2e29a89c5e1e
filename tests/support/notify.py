"""A Notify pipeline on moto: real stores, a recording poster, a recording push queue, a clock."""

from __future__ import annotations

import itertools
import json

from tests.support.fakes import NoLimits
from tests.support.seed import make_chat
from tidings.chats.directory import CachedChatDirectory, DynamoMemberDirectory, DynamoUserDirectory
from tidings.messaging.message import Message
from tidings.messaging.message_store import DynamoMessageStore
from tidings.messaging.sending import MessageService, SendMessage
from tidings.notifications.badge_store import DynamoBadgeStore
from tidings.notifications.badges import BadgeService
from tidings.notifications.notifying import NotificationService
from tidings.notifications.preference_store import DynamoPreferenceStore
from tidings.notifications.push_delivery import PushJob, PushNotification
from tidings.notifications.toast_store import DynamoToastGroups
from tidings.sessions.connection_store import DynamoConnectionStore


class Posted:
    def __init__(self) -> None:
        self.frames: dict[str, list[dict]] = {}

    def post(self, connection_id: str, data: str) -> bool:
        self.frames.setdefault(connection_id, []).append(json.loads(data))
        return True


class Pushed(list[PushNotification]):
    """The push queue: records the notifications of the jobs scheduled."""

    def schedule(self, job: PushJob, delay_seconds: int = 0) -> None:
        self.append(job.notification)


class Presence(dict[str, str]):
    broken = False

    def statuses(self, user_ids: list[str]) -> dict[str, str]:
        if self.broken:
            raise ConnectionError("presence table unreachable")
        return {user_id: self.get(user_id, "available") for user_id in user_ids}


class NotifyWorld:
    """Chats `project-x` (alice, bob, carol), channel `general` (alice, bob) and dm
    `dm-alice-bob`; bob's connections are `online`, everyone else is offline."""

    def __init__(self, online: tuple[str, ...] = ("bob-1",), now: float = 1_800_000_000.0) -> None:
        make_chat("project-x", ["alice", "bob", "carol"])
        make_chat("general", ["alice", "bob"], chat_type="channel")
        make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
        self.connections = DynamoConnectionStore()
        for n, connection_id in enumerate(online):
            self.connections.add(connection_id, "bob", connected_at_ms=n, token_expires_at=2_000_000_000)
        self.posted = Posted()
        self.pushed = Pushed()
        self.presence = Presence()
        self.preferences = DynamoPreferenceStore()
        self.clock = now
        ids = itertools.count(1)
        self.notifications = NotificationService(
            badges=DynamoBadgeStore(),
            members=DynamoMemberDirectory(),
            connections=self.connections,
            preferences=self.preferences,
            presence=self.presence,
            chats=CachedChatDirectory(),
            toast_groups=DynamoToastGroups(new_id=lambda: f"toast-{next(ids)}"),
            push=self.pushed,
            poster=lambda: self.posted,
            now=lambda: self.clock,
            new_id=lambda: f"urgent-{next(ids)}",
        )
        self.badge_service = BadgeService(DynamoBadgeStore(), self.connections, lambda: self.posted)
        self._sending = MessageService(DynamoMessageStore(), DynamoUserDirectory(), NoLimits(), now=lambda: self.clock)
        self._requests = itertools.count()

    def send(self, sender: str, chat_id: str, content: str = "hello", priority: str = "normal") -> Message:
        message = self.store(sender, chat_id, content, priority)
        self.notifications.message_arrived(message)
        return message

    def store(self, sender: str, chat_id: str, content: str = "hello", priority: str = "normal") -> Message:
        """Sends without notifying: what the Delivery consumer has not handled yet."""
        request = SendMessage(
            request_id=f"r{next(self._requests)}", chat_id=chat_id, content=content, priority=priority
        )
        return self._sending.send(sender, request)

    def of_type(self, connection_id: str, frame_type: str) -> list[dict]:
        return [f["payload"] for f in self.posted.frames.get(connection_id, []) if f["type"] == frame_type]

    def badges(self, connection_id: str) -> list[dict]:
        return self.of_type(connection_id, "notification.badge")

    def toasts(self, connection_id: str) -> list[dict]:
        return self.of_type(connection_id, "notification.toast")
