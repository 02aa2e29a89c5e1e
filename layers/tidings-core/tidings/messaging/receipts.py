"""Read receipts: a per-user, per-chat watermark that only moves forward.

`read.mark` only writes the watermark; the receipts go out from the Members stream, whose
batching window coalesces a burst of marks into one `read.receipt` with the highest seq.

Sending a message also moves the sender's watermark to it (a sender has seen their own message,
and everything before it: sending marks the chat read, as chat apps do). Such a move gets no
`read.receipt`: the others learn it from the `message.new` itself. It still recounts the
sender's badge when the sender had anything unread there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from tidings.kernel.errors import Forbidden, NotFound
from tidings.kernel.wire import server_frame
from tidings.messaging.wire import ReadReceiptPayload


@dataclass(frozen=True)
class Watermark:
    chat_id: str
    user_id: str
    seq: int
    message_id: str | None


class ReadStore(Protocol):
    def locate(self, message_id: str) -> tuple[str, int] | None: ...

    def role_of(self, chat_id: str, user_id: str) -> str | None: ...

    def advance_read_watermark(self, chat_id: str, user_id: str, seq: int, message_id: str) -> bool:
        """Moves the watermark to `seq` if that is forward; False if it was already there."""


@dataclass(frozen=True)
class ReadService:
    store: ReadStore

    def mark(self, user_id: str, chat_id: str, message_id: str) -> Watermark:
        if self.store.role_of(chat_id, user_id) is None:
            raise Forbidden(f"You are not a member of chat {chat_id!r}")
        location = self.store.locate(message_id)
        if location is None or location[0] != chat_id:
            raise NotFound(f"Message {message_id!r} is not in chat {chat_id!r}")
        seq = location[1]
        self.store.advance_read_watermark(chat_id, user_id, seq, message_id)
        return Watermark(chat_id, user_id, seq, message_id)


@dataclass(frozen=True)
class Advance:
    """A watermark move as the Members stream reports it."""

    mark: Watermark
    by_send: bool = False  # the member's own message moved it, not a read.mark
    had_counts: bool = True  # the member's unread or mention count in the chat was not zero


@dataclass(frozen=True)
class Plan:
    receipts: set[Watermark]  # the marks to send as read.receipt to the other members
    recounts: set[Watermark]  # the marks whose reader's badge is recounted (and sent to them)


def plan(advances: Iterable[Advance]) -> Plan:
    """What one batch of watermark moves sends: per (chat, reader), one receipt for the highest
    read.mark, and one badge recount at the highest mark of any kind, unless every move was a
    send that found nothing unread (which leaves the badge as it was: at zero)."""
    advances = list(advances)
    latest = coalesce(advance.mark for advance in advances)
    recount_keys = {(a.mark.chat_id, a.mark.user_id) for a in advances if not a.by_send or a.had_counts}
    return Plan(
        receipts=set(coalesce(advance.mark for advance in advances if not advance.by_send)),
        recounts={mark for mark in latest if (mark.chat_id, mark.user_id) in recount_keys},
    )


def coalesce(advances: Iterable[Watermark]) -> list[Watermark]:
    """The highest watermark per (chat, reader), in order of first appearance."""
    latest: dict[tuple[str, str], Watermark] = {}
    for mark in advances:
        key = (mark.chat_id, mark.user_id)
        if key not in latest or mark.seq > latest[key].seq:
            latest[key] = mark
    return list(latest.values())


def read_receipt(mark: Watermark) -> dict[str, Any]:
    return server_frame(
        "read.receipt",
        ReadReceiptPayload(chatId=mark.chat_id, userId=mark.user_id, messageId=mark.message_id, seq=mark.seq),
    )
