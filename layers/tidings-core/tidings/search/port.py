"""The search port: what the search service and the indexer need from an engine.

Two adapters implement it: `EmbeddedSearchEngine` (SQLite FTS5; tests and `tidings dev`) and
`OpenSearchEngine` (AWS). Both pass the same contract suite (tests/contract/test_search_engines.py).

Access control is the caller's `chat_ids`: an engine only ever returns documents of those chats,
as part of the query itself, so `total` and paging count only what the searcher may see.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from tidings.kernel.errors import Unavailable
from tidings.kernel.observability import logger
from tidings.messaging.message import Message
from tidings.search.query import SearchQuery

UNAVAILABLE_MESSAGE = "Search temporarily unavailable"
MARK_OPEN, MARK_CLOSE = "<mark>", "</mark>"
PREVIEW_CHARS = 200
# What the engines can hold of an attachment: a size is a signed 64-bit integer (OpenSearch
# `long`, SQLite INTEGER); text fields are capped so one odd attachment cannot bloat the index.
MAX_INDEXED_SIZE = 2**63 - 1
MAX_INDEXED_TEXT_CHARS = 2048

T = TypeVar("T")


class SearchUnavailable(Unavailable):
    """The engine cannot be reached or failed: `UNAVAILABLE`, and messaging goes on."""

    def __init__(self, message: str = UNAVAILABLE_MESSAGE) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class FileDocument:
    """One attachment of a message, searchable by name (the `files` scope)."""

    file_id: str
    name: str
    size: int | None = None
    mime_type: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class MessageDocument:
    """What the index holds of a message."""

    message_id: str
    chat_id: str
    seq: int
    sender_id: str
    sender_name: str
    content: str
    created_at: str  # ISO 8601 UTC, milliseconds, `Z`: sorts as text
    mentions: tuple[str, ...] = ()
    files: tuple[FileDocument, ...] = field(default_factory=tuple)

    @property
    def has_attachment(self) -> bool:
        return bool(self.files)

    @classmethod
    def from_message(cls, message: Message) -> MessageDocument:
        """The message as the index holds it. Attachments are the uploads the server checked
        (`{attachmentId, name, size, contentType, status}`); messages stored before uploads were
        part of the protocol carry what their clients described (`fileId`, `mimeType`, `url`),
        so a field no engine can hold (a size beyond 64 bits, a non-text name) is dropped or cut
        here: one odd message must never make indexing fail, for it or its batch."""
        files = tuple(
            FileDocument(
                file_id=_text(attachment.get("attachmentId") or attachment.get("fileId"))
                or f"{message.message_id}:{position}",
                name=_text(attachment.get("name")) or "",
                size=_size(attachment.get("size")),
                mime_type=_text(attachment.get("contentType") or attachment.get("mimeType")),
                url=_text(attachment.get("url")),
            )
            for position, attachment in enumerate(message.attachments or [])
            if isinstance(attachment, dict)
        )
        return cls(
            message_id=message.message_id,
            chat_id=message.chat_id,
            seq=message.seq,
            sender_id=message.sender_id,
            sender_name=message.sender_name,
            content=message.content or "",
            created_at=message.created_at,
            mentions=tuple(message.mentions),
            files=files,
        )


def _size(value: Any) -> int | None:
    if type(value) is int and 0 <= value <= MAX_INDEXED_SIZE:
        return value
    if value is not None:
        logger.warning("attachment size not indexable; indexed without it", extra={"sizeType": type(value).__name__})
    return None


def _text(value: Any) -> str | None:
    return value[:MAX_INDEXED_TEXT_CHARS] if isinstance(value, str) and value else None


@dataclass(frozen=True)
class MessageHit:
    document: MessageDocument
    score: float
    highlights: list[str]  # HTML: the content escaped, matches in <mark>


@dataclass(frozen=True)
class FileHit:
    document: MessageDocument  # the message the file is attached to
    file: FileDocument
    score: float
    highlights: list[str]  # HTML: the name escaped, matches in <mark>


@dataclass(frozen=True)
class Page(Generic[T]):
    total: int
    hits: list[T]


class SearchEngine(Protocol):
    def index(self, documents: Iterable[MessageDocument]) -> None:
        """Adds or replaces each message (and its files), by messageId."""

    def remove(self, message_ids: Iterable[str]) -> None:
        """Removes each message and its files; unknown ids are fine."""

    def reset(self) -> None:
        """Empties the index (the first step of `tidings reindex`)."""

    def search_messages(
        self, query: SearchQuery, chat_ids: Sequence[str], offset: int, limit: int
    ) -> Page[MessageHit]: ...

    def search_files(self, query: SearchQuery, chat_ids: Sequence[str], offset: int, limit: int) -> Page[FileHit]: ...


def preview(content: str) -> str:
    """The escaped start of a message, for results that matched no text (operators only)."""
    cut = content[:PREVIEW_CHARS]
    return html.escape(cut + ("…" if len(content) > PREVIEW_CHARS else ""), quote=False)


def json_safe_attachment(file: FileDocument) -> dict[str, Any]:
    return {"fileId": file.file_id, "name": file.name, "size": file.size, "mimeType": file.mime_type, "url": file.url}
