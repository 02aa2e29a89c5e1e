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

from tidings.domain.messages import Message
from tidings.errors import Unavailable
from tidings.search.query import SearchQuery

UNAVAILABLE_MESSAGE = "Search temporarily unavailable"
MARK_OPEN, MARK_CLOSE = "<mark>", "</mark>"
PREVIEW_CHARS = 200

T = TypeVar("T")


class SearchUnavailable(Unavailable):
    """The engine cannot be reached or failed: `UNAVAILABLE`, and messaging goes on."""

    def __init__(self, message: str = UNAVAILABLE_MESSAGE) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class FileDocument:
    """One attachment of a message, searchable by name (seed §5.2 "Files")."""

    file_id: str
    name: str
    size: int | None = None
    mime_type: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class MessageDocument:
    """What the index holds of a message (seed §5.3)."""

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
        files = tuple(
            FileDocument(
                file_id=str(attachment.get("fileId") or f"{message.message_id}:{position}"),
                name=str(attachment.get("name") or ""),
                size=attachment.get("size"),
                mime_type=attachment.get("mimeType"),
                url=attachment.get("url"),
            )
            for position, attachment in enumerate(message.attachments or [])
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
