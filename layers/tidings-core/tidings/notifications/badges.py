"""Badges: unread and mention counts per user and chat, and totals.

A new message raises the counts of every member but its sender, unless the member has the chat
focused on a connection (`tidings.notifications.notifying` applies that rule with the others).
Counts change only through atomic counters; `read.mark` (and a message of the user's own)
resets them by a recount from the watermark, and a delete takes the message out of the counts
of every member who may have counted it. Every change sends `notification.badge` to all of the
user's connections; an offline user's counts wait in storage for `GET /api/chats`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tidings.kernel.connections_api import ConnectionPoster, DeliveryRetries, post_to_user
from tidings.kernel.wire import camel_fields, encode, server_frame
from tidings.messaging.message import Message
from tidings.notifications.wire import BadgePayload

BROADCASTS = ("@channel", "@here")


@dataclass(frozen=True)
class Badge:
    chat_id: str
    unread_count: int
    mention_count: int
    total_unread_count: int
    total_mention_count: int

    def to_wire(self) -> dict[str, Any]:
        return camel_fields(self)

    def frame(self) -> dict[str, Any]:
        return server_frame("notification.badge", BadgePayload.model_validate(self.to_wire()))


class BadgeStore(Protocol):
    def increment(self, chat_id: str, user_id: str, mentioned: bool, seq: int | None = None) -> Badge | None:
        """Counts the message at `seq` unless the member has read past it; None if it did not count."""

    def recount(self, chat_id: str, user_id: str) -> Badge:
        """Counts from the read watermark, stored with the totals adjusted by the difference."""

    def recount_after_delete(self, chat_id: str, user_id: str) -> Badge | None:
        """The same recount, but no count may rise (it never counted a deleted message it did
        not count before); None when nothing changed."""

    def may_count(self, chat_id: str, seq: int) -> list[str]:
        """The members who may have counted the message at `seq`: watermark below it, and an
        unread or mention count above zero."""

    def current(self, user_id: str, chat_ids: Sequence[str]) -> list[Badge]:
        """The stored badges of those of `chat_ids` the user is a member of, by chat id."""


class Connections(Protocol):
    def for_user(self, user_id: str) -> list[str]: ...

    def for_users(self, user_ids: Collection[str]) -> dict[str, list[str]]: ...

    def focus_and_versions(self, connection_ids: Collection[str]) -> tuple[dict[str, str], dict[str, int]]:
        """One read: the chat each connection shows (`chat.focus`), for those showing one, and
        the protocol version each speaks (1 for one that never said hello)."""

    def forget_gone(self, connection_id: str) -> None: ...


def is_mentioned(message: Message, user_id: str) -> bool:
    return user_id in message.mentions or any(b in message.mentions for b in BROADCASTS)


@dataclass(frozen=True, eq=False)
class BadgeService:
    """Reading a chat recounts its badge and tells every session of the reader; deleting a message
    recounts the members who counted it. (A new message's badge is counted by
    `tidings.notifications.notifying`, which decides everything a recipient gets.)"""

    store: BadgeStore
    connections: Connections
    poster: Callable[[], ConnectionPoster]
    # Where a connection that fails is retried (`tidings.kernel.connections_api`).
    retries: Callable[[], DeliveryRetries] | None = None

    def chat_read(self, chat_id: str, user_id: str) -> Badge:
        badge = self.store.recount(chat_id, user_id)
        self._tell(user_id, badge)
        return badge

    def message_deleted(self, chat_id: str, seq: int) -> None:
        """A deleted message stops counting: each member who may have counted it is recounted
        from their watermark (recounts skip deleted messages), and told when a count fell.
        Deletes are rare; a new message costs nothing more for this."""
        for user_id in self.store.may_count(chat_id, seq):
            badge = self.store.recount_after_delete(chat_id, user_id)
            if badge is not None:
                self._tell(user_id, badge)

    def _tell(self, user_id: str, badge: Badge) -> None:
        connection_ids = self.connections.for_user(user_id)
        retries = self.retries() if self.retries else None
        post_to_user(self.poster(), self.connections, connection_ids, [encode(badge.frame())], retries)

    def current(self, user_id: str, chat_ids: Sequence[str]) -> list[Badge]:
        return self.store.current(user_id, chat_ids)
