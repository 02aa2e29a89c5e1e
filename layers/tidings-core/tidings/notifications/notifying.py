"""The notification pipeline: for every recipient of a new message,
gather the facts, ask the evaluator, then count the badge, group the toast or queue the push.

Two steps, so that a recipient connection gets one API Gateway message per new message: `decide`
does the work and returns what each online recipient is to be told (`Notices`), and the Delivery
consumer posts it inside that connection's `message.new` (protocol version 2) or as the separate
frames after it (version 1). It runs with the members and connections fan-out read (its
`audience`); what fails here is retried on its own, told then in separate frames (`tell`;
docs/architecture.md "Notifications").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import datetime
from typing import Any, Protocol

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


@dataclass(frozen=True)
class Notice:
    """What one online recipient is told of a new message: its `notification.badge` frame and,
    when it is alerted, its `notification.toast` frame (built, not encoded)."""

    badge: dict[str, Any]
    toast: dict[str, Any] | None = None

    def frames(self) -> list[str]:
        """The notice as separate frames, encoded: protocol version 1, and every retry."""
        return [encode(frame) for frame in (self.badge, self.toast) if frame is not None]


@dataclass(frozen=True)
class Notices:
    """A new message's notification decision: the notice of each recipient to tell (an online
    one with something to show), that recipient's connections, and the protocol version of every
    recipient connection (from the focus read, so telling by version costs no read)."""

    by_user: dict[str, Notice]
    connections: dict[str, list[str]]
    versions: dict[str, int]

    def version_of(self, connection_id: str) -> int:
        return self.versions.get(connection_id, 1)


@dataclass(frozen=True)
class NotificationService:
    _: KW_ONLY
    badges: BadgeStore
    members: MemberDirectory
    connections: Connections
    preferences: PreferenceStore
    presence: PresenceLookup
    chats: ChatDirectory
    toast_groups: ToastGroups
    push: PushJobs
    poster: Callable[[], ConnectionPoster]
    now: Callable[[], float]
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())
    retries: Callable[[], DeliveryRetries] | None = None  # where failed posts are retried

    def message_arrived(
        self,
        message: Message,
        audience: Mapping[str, list[str]] | None = None,
        only: Collection[str] | None = None,
    ) -> None:
        """Decides, then tells each recipient in separate frames (`notification.badge`, then
        `notification.toast`): the notification retry, after the message went out plain."""
        self.tell(self.decide(message, audience, only), trace_id=message.trace_id)

    def decide(
        self,
        message: Message,
        audience: Mapping[str, list[str]] | None = None,
        only: Collection[str] | None = None,
    ) -> Notices:
        """Every recipient's notification work: the evaluator's answer, its badge counted, its
        toast grouped, its push queued; what each online one is to be told (`Notices`), not told
        yet. `audience`: the chat's members (or a shard of them) and their connections as
        fan-out read them just now; when not given, the chat's members are read here (or only
        the members `only` names: a message shard's, on its retry), and their connections."""
        if audience is not None:
            members: Collection[str] = audience.keys()
        else:
            members = only if only is not None else self.members.member_ids(message.chat_id)
        recipients = [user_id for user_id in members if user_id != message.sender_id]
        if not recipients:
            return Notices({}, {}, {})
        connections = audience if audience is not None else self.connections.for_users(recipients)
        # The four reads are independent, so they overlap: one round trip, not four. One batch
        # read of every recipient connection's focus and protocol version, not one per connection.
        reads: list[Callable[[], Any]] = [
            lambda: self.chats.chat(message.chat_id),
            lambda: self.preferences.for_users(recipients),
            lambda: self._in_dnd(recipients),
            lambda: self.connections.focus_and_versions(
                [c for user_id in recipients for c in connections.get(user_id, [])]
            ),
        ]
        chat, preferences, in_dnd, (focus, versions) = bounded_map(lambda read: read(), reads, len(reads), "notify")
        now = self.now()
        urgent = message.priority == "urgent"

        def notice_for(user_id: str) -> Notice | None:
            """The recipient's notice (None when nothing is shown, or it is offline), its badge
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
                return None
            badge = self.badges.increment(message.chat_id, user_id, mentioned, seq=message.seq)
            if badge is None:
                return None  # already read past it (the stream runs behind the reader): nothing to tell
            toast = None
            if delivery.toast or delivery.push:
                toast = toast_for(message, chat, self._group(user_id, message, urgent))
                if delivery.push:
                    self.push.schedule(PushJob(_push_of(user_id, toast, badge), trace_id=message.trace_id))
            if not connection_ids:
                return None
            return Notice(badge.frame(), toast.frame() if delivery.toast and toast is not None else None)

        # Each recipient's writes are its own (its badge, its toast group, its push job), so they overlap.
        decided = bounded_map(notice_for, recipients, NOTIFY_CONCURRENCY, "notify")
        told = {user_id: notice for user_id, notice in zip(recipients, decided, strict=True) if notice is not None}
        return Notices(told, {user_id: list(connections.get(user_id, [])) for user_id in told}, versions)

    def tell(self, notices: Notices, trace_id: str | None = None) -> None:
        """Posts each told recipient's notification frames to all of its connections, in one
        parallel delivery, each connection's in order."""
        targets: list[tuple[str, list[str]]] = []
        for user_id, notice in notices.by_user.items():
            frames = notice.frames()  # encoded once for all of the recipient's connections
            targets += [(connection_id, frames) for connection_id in notices.connections[user_id]]
        if targets:
            retries = self.retries() if self.retries else None
            Deliveries(self.poster(), self.connections, retries).deliver(targets, trace_id=trace_id)

    def _in_dnd(self, user_ids: list[str]) -> set[str]:
        """Who is in DND through presence (one batch read for all recipients)."""
        try:
            statuses = self.presence.statuses(user_ids)
        except Exception:
            # Degraded mode: without presence, notify as if nobody were in DND.
            logger.exception("presence lookup failed; treating the recipients as not in DND")
            return set()
        return {user_id for user_id, status in statuses.items() if status == DND_STATUS}

    def _group(self, user_id: str, message: Message, urgent: bool) -> ToastGroup:
        if urgent:
            return ToastGroup(self.new_id(), 1)  # an urgent message always stands alone
        # Grouped by when the messages were sent, not by when this consumer got to them: a
        # loaded or backlogged consumer groups the same messages as an idle one.
        sent_at = datetime.fromisoformat(message.created_at).timestamp()
        return self.toast_groups.join(user_id, message.chat_id, sent_at, GROUP_WINDOW_SECONDS)


@dataclass(frozen=True)
class ChatEventNotifications:
    """What a chat event means for notifications: a new message notifies its recipients, a
    delete takes its message out of the badges that counted it; edits and reactions change no
    count."""

    notifications: NotificationService
    badges: BadgeService

    def decide(self, message: Message, audience: Mapping[str, list[str]] | None = None) -> Notices:
        """A new message's notification work, done; what to tell its online recipients, not told
        yet (`NotificationService.decide`)."""
        return self.notifications.decide(message, audience)

    def event(
        self,
        kind: str,
        item: Message,
        target_seq: int | None,
        audience: Mapping[str, list[str]] | None = None,
        only: Collection[str] | None = None,
    ) -> None:
        """`only`: a new message's notification work for just these members (a message shard's)."""
        if kind == "message":
            self.notifications.message_arrived(item, audience, only)
        elif kind == "delete" and target_seq is not None:
            self.badges.message_deleted(item.chat_id, target_seq)


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
