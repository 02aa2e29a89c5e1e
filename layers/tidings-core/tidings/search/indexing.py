"""Keeping the index in step with the Messages event log, and rebuilding it from scratch.

The indexer follows the Messages stream's INSERTs, the chat events (docs/architecture.md,
"Messages is an event log"): a `message` item is indexed from its own image, with no read; an
`edit` item names its message by `targetSeq`, which is read as it is now (one GetItem) and
indexed again, replacing the old content; a `delete` item removes the message by messageId.
Reactions change nothing searchable. Reading the message's current state for an edit, instead
of trusting the order of records, makes a retried or late edit converge on what is stored
(deleted stays deleted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from tidings.messaging.message import Message
from tidings.search.port import MessageDocument, SearchEngine

REINDEX_BATCH = 200


@dataclass(frozen=True)
class SearchIndexer:
    engine: Callable[[], SearchEngine]
    load_message: Callable[[str, int], Message | None]

    def message_created(self, message: Message) -> None:
        if message.deleted:
            self.engine().remove([message.message_id])
        else:
            self.engine().index([MessageDocument.from_message(message)])

    def message_edited(self, chat_id: str, message_id: str, target_seq: int) -> None:
        current = self.load_message(chat_id, target_seq)
        if current is None or current.deleted:
            self.engine().remove([message_id])
        else:
            self.engine().index([MessageDocument.from_message(current)])

    def message_deleted(self, message_id: str) -> None:
        self.engine().remove([message_id])


@dataclass(frozen=True)
class ReindexProgress:
    chats_done: int
    chats_total: int
    messages_indexed: int


@dataclass(frozen=True)
class Reindexer:
    """`tidings reindex` and the AWS `SearchReindex` function: empties the index, then indexes
    every message of every chat from the message store (the search index is derived data)."""

    engine: Callable[[], SearchEngine]
    chat_ids: Callable[[], Iterable[str]]
    """Every chat (no Scan: the directory's `all_chat_ids`)."""
    messages: Callable[[str], Iterable[Message]]
    """A chat's messages (not its other events), oldest first (the message store's)."""

    def run(self, progress: Callable[[ReindexProgress], None] = lambda _: None) -> ReindexProgress:
        engine = self.engine()
        chat_ids = list(self.chat_ids())
        engine.reset()
        indexed = 0
        progress(ReindexProgress(0, len(chat_ids), 0))
        for done, chat_id in enumerate(chat_ids, start=1):
            for batch in _batches(m for m in self.messages(chat_id) if not m.deleted):
                engine.index(MessageDocument.from_message(m) for m in batch)
                indexed += len(batch)
            progress(ReindexProgress(done, len(chat_ids), indexed))
        return ReindexProgress(len(chat_ids), len(chat_ids), indexed)


def _batches(messages: Iterable[Message]) -> Iterator[list[Message]]:
    batch: list[Message] = []
    for message in messages:
        batch.append(message)
        if len(batch) == REINDEX_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
