"""The notification pipeline: for every recipient of a new message,
gather the facts, ask the evaluator, then count the badge, send the toast or queue the push.

It runs in the Delivery consumer after the message's frames were posted, with the members and
connections fan-out read (its `audience`), so a slow preference read or push queue never delays
message delivery; what fails here is retried on its own (docs/architecture.md "Notifications").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from tidings.chats.directory import ChatInfo, MemberDirectory
from tidings.kernel.connections_api import ConnectionPoster, Deliveries, DeliveryRetries
from tidings.kernel.observability import logger
from tidings.kernel.parallel import bounded_map
from tidings.kernel.wire import encode
from tidings.messaging.message import Message
from tidings.notifications.badges import Badge, BadgeService, BadgeStore, Connections, is_mentioned
from tidings.notifications.evaluator import Recipient, evaluate
from tidings.notifications.preferences import NotificationPreferences
from tidings.notifications.push_delivery import PushJob, PushJobs, PushNotification
from tidings.notifications.toasts import GROUP_WINDOW_SECONDS, Toast, ToastGroup, ToastGroups, toast_for

DND_STATUS = "dnd"
# Recipients whose writes run at once: PynamoDB's connection pool (`max_pool_connections`, 10).
NOTIFY_CONCURRENCY = 10


class PreferenceStore(Protocol):
    def for_users(self, user_ids: Sequence[str]) -> dict[str, NotificationPreferences]:
        """Each user's preferences; defaults for a user who never saved any."""


class PresenceLookup(Protocol):
    def statuses(self, user_ids: Sequence[str]) -> dict[str, str]: ...


class ChatDirectory(Protocol):
    def chat(self, chat_id: str) -> ChatInfo: ...


class NotificationService:
    def __init__(
        self,
        *,
        badges: BadgeStore,
        members: MemberDirectory,
        connections: Connections,
        preferences: PreferenceStore,
        presence: PresenceLookup,
        chats: ChatDirectory,
        toast_groups: ToastGroups,
        push: PushJobs,
        poster: Callable[[], ConnectionPoster],
        now: Callable[[], float],
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        retries: Callable[[], DeliveryRetries] | None = None,  # where failed posts are retried
    ) -> None:
        self._badges = badges
        self._members = members
        self._connections = connections
        self._preferences = preferences
        self._presence = presence
        self._chats = chats
        self._toast_groups = toast_groups
        self._push = push
        self._poster = poster
        self._now = now
        self._new_id = new_id
        self._retries = retries

    def message_arrived(self, message: Message, audience: Mapping[str, list[str]] | None = None) -> None:
        """`audience`: the chat's members and their connections as fan-out read them just now
        (read here when not given)."""
        members = audience.keys() if audience is not None else self._members.member_ids(message.chat_id)
        recipients = [user_id for user_id in members if user_id != message.sender_id]
        if not recipients:
            return
        chat = self._chats.chat(message.chat_id)
        preferences = self._preferences.for_users(recipients)
        in_dnd = self._in_dnd(recipients)
        now = self._now()
        urgent = message.priority == "urgent"
        connections = audience if audience is not None else self._connections.for_users(recipients)
        # One batch read of every recipient's focus, not one per recipient.
        focus = self._connections.focus_of([c for user_id in recipients for c in connections.get(user_id, [])])

        def frames_for(user_id: str) -> list[str]:
            """The recipient's notification frames (none when nothing is shown), its badge
            counted and its push queued."""
            prefs = preferences.get(user_id) or NotificationPreferences()
            connection_ids = connections.get(user_id, [])
            mentioned = is_mentioned(message, user_id)
            delivery = evaluate(
                Recipient(
                    level=prefs.level_for(chat.chat_id, chat.chat_type),
                    dnd=user_id in in_dnd or prefs.dnd_scheduled_at(now),
                    focused=any(focus.get(c) == message.chat_id for c in connection_ids),
                    online=bool(connection_ids),
                    mentioned=mentioned,
                    push_enabled=prefs.global_.desktop,
                ),
                urgent,
            )
            if not delivery.count_unread:
                return []
            badge = self._badges.increment(message.chat_id, user_id, mentioned, seq=message.seq)
            if badge is None:
                return []  # already read past it (the stream runs behind the reader): nothing to tell
            frames = [badge.frame()]
            if delivery.toast or delivery.push:
                toast = toast_for(message, chat, self._group(user_id, message, urgent))
                if delivery.toast:
                    frames.append(toast.frame())
                if delivery.push:
                    self._push.schedule(PushJob(_push_of(user_id, toast, badge), trace_id=message.trace_id))
            return [encode(f) for f in frames] if connection_ids else []

        # Each recipient's writes are its own (its badge, its toast group, its push job), so they
        # overlap; then every frame goes out in one parallel delivery, each connection's in order.
        owed = bounded_map(frames_for, recipients, NOTIFY_CONCURRENCY, "notify")
        targets = [
            (connection_id, frames)
            for user_id, frames in zip(recipients, owed, strict=True)
            if frames
            for connection_id in connections.get(user_id, [])
        ]
        if targets:
            retries = self._retries() if self._retries else None
            Deliveries(self._poster(), self._connections, retries).deliver(targets, trace_id=message.trace_id)

    def _in_dnd(self, user_ids: list[str]) -> set[str]:
        """Who is in DND through presence (one batch read for all recipients)."""
        try:
            statuses = self._presence.statuses(user_ids)
        except Exception:
            # Degraded mode: without presence, notify as if nobody were in DND.
            logger.exception("presence lookup failed; treating the recipients as not in DND")
            return set()
        return {user_id for user_id, status in statuses.items() if status == DND_STATUS}

    def _group(self, user_id: str, message: Message, urgent: bool) -> ToastGroup:
        if urgent:
            return ToastGroup(self._new_id(), 1)  # an urgent message always stands alone
        # Grouped by when the messages were sent, not by when this consumer got to them: a
        # loaded or backlogged consumer groups the same messages as an idle one.
        sent_at = datetime.fromisoformat(message.created_at).timestamp()
        return self._toast_groups.join(user_id, message.chat_id, sent_at, GROUP_WINDOW_SECONDS)


class ChatEventNotifications:
    """What a chat event means for notifications: a new message notifies its recipients, a
    delete takes its message out of the badges that counted it; edits and reactions change no
    count."""

    def __init__(self, notifications: NotificationService, badges: BadgeService) -> None:
        self._notifications = notifications
        self._badges = badges

    def event(
        self, kind: str, item: Message, target_seq: int | None, audience: Mapping[str, list[str]] | None = None
    ) -> None:
        if kind == "message":
            self._notifications.message_arrived(item, audience)
        elif kind == "delete" and target_seq is not None:
            self._badges.message_deleted(item.chat_id, target_seq)


def _push_of(user_id: str, toast: Toast, badge: Badge) -> PushNotification:
    return PushNotification(
        user_id=user_id,
        id=toast.id,
        title=toast.title,
        body=toast.body,
        chat_id=toast.chat_id,
        message_id=toast.message_id,
        priority=toast.priority,
        timestamp=toast.timestamp,
        count=toast.count,
        total_unread=badge.total_unread_count,
    )
