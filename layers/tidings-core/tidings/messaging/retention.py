"""Retention: messages older than their chat's `retentionDays` (or the deployment's default)
are deleted by a scheduled sweep, each through the same delete as a sender's own (a `delete`
chat event with its seq, as made by the platform), so connected members, sync, badges and the
search index follow it as they follow any delete.

A chat's event log is in seq order, and seq order is send order, so the expired messages of a
chat are the `message` items before the first one that is still young. The sweep walks each
chat from where it stopped last time (`retentionSweptSeq` on the chat), so a run reads only
what arrived since the last one, not the tombstones of everything it deleted before. A run
stops early when its time runs out; the next one (an hour later) carries on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from tidings.kernel.observability import logger, metrics
from tidings.kernel.wire import iso

DAY_SECONDS = 86_400


@dataclass(frozen=True)
class RetainedChat:
    """A chat as the sweep sees it: its own retention (None: the default) and its progress."""

    chat_id: str
    retention_days: int | None
    swept_seq: int


@dataclass(frozen=True)
class ExpiredPage:
    """What one read of a chat's log, after `swept_seq`, found: the seqs of the live messages
    sent before the cutoff, how far the read got (`swept_seq`: every item up to it looked at),
    and whether it reached the first young message or the end of the log (`done`)."""

    expired: list[int]
    swept_seq: int
    done: bool


class RetentionStore(Protocol):
    def chats(self) -> Iterator[RetainedChat]:
        """Every chat (dm, group, channel)."""

    def expired(self, chat_id: str, after_seq: int, cutoff: str, limit: int) -> ExpiredPage:
        """Up to `limit` items of the chat's log after `after_seq`, oldest first."""

    def mark_swept(self, chat_id: str, seq: int) -> None:
        """Records the sweep's progress in the chat; it never moves back."""


class MessageExpiry(Protocol):
    def expire(self, chat_id: str, seq: int) -> int | None:
        """Deletes the message at `seq`; the delete event's seq, None if it was gone already."""


@dataclass
class SweepReport:
    chats: int = 0  # chats with a retention, looked at
    deleted: int = 0
    finished: bool = True  # False: the time ran out; the next run carries on


@dataclass(frozen=True, eq=False)
class RetentionSweep:
    store: RetentionStore
    messages: MessageExpiry
    default_days: int  # 0: keep forever, unless a chat says otherwise
    page_size: int = 100

    def run(self, now: float, has_time: Callable[[], bool]) -> SweepReport:
        """Deletes what has expired at `now` (epoch seconds: the schedule's time), chat by chat."""
        report = SweepReport()
        for chat in self.store.chats():
            days = chat.retention_days or self.default_days
            if not days:
                continue
            if not has_time():
                report.finished = False
                break
            report.chats += 1
            cutoff = iso(now - days * DAY_SECONDS)  # the log's own format, so strings compare as times
            if not self._sweep_chat(chat, cutoff, has_time, report):
                report.finished = False
                break
        metrics.add_metric(name="RetentionDeletes", unit="Count", value=report.deleted)
        logger.info(
            "retention sweep",
            extra={"chats": report.chats, "deleted": report.deleted, "finished": report.finished},
        )
        return report

    def _sweep_chat(self, chat: RetainedChat, cutoff: str, has_time: Callable[[], bool], report: SweepReport) -> bool:
        """Sweeps one chat up to its first young message; False if the time ran out first."""
        swept = chat.swept_seq
        while True:
            page = self.store.expired(chat.chat_id, swept, cutoff, self.page_size)
            for seq in page.expired:
                if self.messages.expire(chat.chat_id, seq) is not None:
                    report.deleted += 1
            if page.swept_seq > swept:
                self.store.mark_swept(chat.chat_id, page.swept_seq)
                swept = page.swept_seq
            if page.done:
                return True
            if not has_time():
                return False
