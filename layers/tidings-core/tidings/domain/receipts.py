"""Read receipts (PROTOCOL.md §5): a per-user, per-chat watermark that only moves forward.

`read.mark` only writes the watermark; the receipts go out from the Members stream, whose
batching window coalesces a burst of marks into one `read.receipt` with the highest seq.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from tidings.errors import Forbidden, NotFound
from tidings.protocol.frames import server_frame


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


class ReadService:
    def __init__(self, store: ReadStore) -> None:
        self._store = store

    def mark(self, user_id: str, chat_id: str, message_id: str) -> Watermark:
        if self._store.role_of(chat_id, user_id) is None:
            raise Forbidden(f"You are not a member of chat {chat_id!r}")
        location = self._store.locate(message_id)
        if location is None or location[0] != chat_id:
            raise NotFound(f"Message {message_id!r} is not in chat {chat_id!r}")
        seq = location[1]
        self._store.advance_read_watermark(chat_id, user_id, seq, message_id)
        return Watermark(chat_id, user_id, seq, message_id)


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
        {"chatId": mark.chat_id, "userId": mark.user_id, "messageId": mark.message_id, "seq": mark.seq},
    )
