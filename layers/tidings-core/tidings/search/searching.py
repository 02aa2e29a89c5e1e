"""`search.query` and `search.suggest`: free of AWS event shapes.

Who may see what: the searcher's memberships (one Query on `Members.byUser`, plus one
BatchGetItem of the chats for their names) are the access control. Messages and files come
from the engine, restricted to those chats inside the engine's query. People and channels
are small and come from DynamoDB directly: channels are the searcher's own named chats, people
are the members of the searcher's chats (the people they can see), matched by prefix. Neither
needs an index of its own, nor a Scan.

Results of the `all` scope are one list in the order people, channels, files, messages, with
one `total` and one offset cursor over it, so paging is exact across the four kinds.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from tidings.chats.directory import ChatInfo, Person
from tidings.kernel.errors import BadFrame, Forbidden
from tidings.kernel.ratelimits import RateLimiter
from tidings.search.declaration import SEARCH_REQUESTS
from tidings.search.port import MARK_CLOSE, MARK_OPEN, FileHit, MessageHit, SearchEngine
from tidings.search.query import BadQuery, SearchQuery, parse

Scope = Literal["all", "messages", "people", "files", "channels"]
SCOPES: tuple[Scope, ...] = ("all", "messages", "people", "files", "channels")
DEFAULT_LIMIT = 20
MAX_LIMIT = 50
MIN_SUGGEST_CHARS = 2
MAX_SUGGESTIONS = 5
MAX_MESSAGE_SUGGESTIONS = 3
SUGGESTION_TEXT_CHARS = 100
# How deep paging may go: OpenSearch refuses `from + size` beyond its `max_result_window`
# (10,000 by default), so results past it are not reachable; the embedded engine keeps the same bound.
MAX_RESULT_WINDOW = 10_000

_NAME_WORD = re.compile(r"\w+")


class SearchDirectory(Protocol):
    def chats_of(self, user_id: str) -> list[ChatInfo]:
        """The chats `user_id` is a member of."""

    def people_in(self, chat_ids: Sequence[str]) -> list[Person]:
        """Every member of these chats, once each."""


@dataclass(frozen=True)
class SearchResults:
    results: list[dict[str, Any]]
    total: int
    cursor: str | None

    def to_wire(self) -> dict[str, Any]:
        return {"results": self.results, "total": self.total, "cursor": self.cursor}


# A segment answers (offset, limit) with (its total, up to `limit` results from `offset`).
Segment = Callable[[int, int], tuple[int, list[dict[str, Any]]]]


@dataclass(frozen=True, eq=False)
class SearchService:
    engine: Callable[[], SearchEngine]
    directory: SearchDirectory
    rate_limiter: RateLimiter
    now: Callable[[], datetime]

    def search(
        self,
        user_id: str,
        text: str,
        scope: Scope = "all",
        chat_id: str | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> SearchResults:
        self.rate_limiter.enforce(SEARCH_REQUESTS, user_id)
        query = parse(text, user_id=user_id, now=self.now())
        offset = decode_cursor(cursor) if cursor else 0
        limit = min(limit, MAX_RESULT_WINDOW - offset)
        chats = self._visible_chats(user_id, query, chat_id)
        segments = self._segments(scope, query, chats)
        total = 0
        results: list[dict[str, Any]] = []
        for segment in segments:
            wanted = max(0, limit - len(results))
            segment_total, items = segment(max(0, offset - total), wanted)
            results += items[:wanted]
            total += segment_total
        next_offset = offset + len(results)
        more = results and next_offset < min(total, MAX_RESULT_WINDOW)
        return SearchResults(results, total, encode_cursor(next_offset) if more else None)

    def suggest(self, user_id: str, text: str) -> list[dict[str, Any]]:
        self.rate_limiter.enforce(SEARCH_REQUESTS, user_id)
        if len(text.strip()) < MIN_SUGGEST_CHARS:
            return []
        try:
            query = parse(text, user_id=user_id, now=self.now()).as_prefix()
        except BadQuery:
            return []  # a date half typed: nothing to suggest yet
        chats = self._visible_chats(user_id, query, None)
        named: list[dict[str, Any]] = []
        if query.words and not query.has_message_filters:
            named += [_person_suggestion(p, query) for p in self._people(query, chats)[:MAX_SUGGESTIONS]]
            named += [_chat_suggestion(c, query) for c in _channels(query, chats)[:MAX_SUGGESTIONS]]
        messages: list[MessageHit] = []
        if query.has_text:
            messages = self.engine().search_messages(query, [c.chat_id for c in chats], 0, MAX_MESSAGE_SUGGESTIONS).hits
        named = named[: MAX_SUGGESTIONS - min(len(messages), MAX_MESSAGE_SUGGESTIONS)]
        return named + [_message_suggestion(hit) for hit in messages][: MAX_SUGGESTIONS - len(named)]

    # --- access control -----------------------------------------------------------------

    def _visible_chats(self, user_id: str, query: SearchQuery, chat_id: str | None) -> list[ChatInfo]:
        """The chats this search may read: the searcher's, narrowed by `chatId` and `in:`."""
        chats = self.directory.chats_of(user_id)
        if chat_id is not None:
            chats = [c for c in chats if c.chat_id == chat_id]
            if not chats:
                raise Forbidden(f"Not a member of chat {chat_id!r}")
        if query.in_chats:
            wanted = {name.casefold() for name in query.in_chats}
            chats = [c for c in chats if c.chat_id.casefold() in wanted or (c.name or "").casefold() in wanted]
        return chats

    # --- the four kinds of result ---------------------------------------------------------

    def _segments(self, scope: Scope, query: SearchQuery, chats: list[ChatInfo]) -> list[Segment]:
        chat_ids = [c.chat_id for c in chats]
        # Text, a message operator, or `in:` alone ("everything in #general", newest first).
        engine_searchable = query.has_text or query.has_message_filters or bool(query.in_chats)

        def people(offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
            found = self._people(query, chats) if query.words and not query.has_message_filters else []
            return len(found), [_person_result(p, query) for p in found[offset : offset + limit]]

        def channels(offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
            found = _channels(query, chats) if query.words and not query.has_message_filters else []
            return len(found), [_channel_result(c, query) for c in found[offset : offset + limit]]

        def files(offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
            if not engine_searchable:
                return 0, []
            page = self.engine().search_files(query, chat_ids, offset, limit)
            return page.total, [_file_result(hit) for hit in page.hits]

        def messages(offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
            if not engine_searchable:
                return 0, []
            page = self.engine().search_messages(query, chat_ids, offset, limit)
            return page.total, [_message_result(hit) for hit in page.hits]

        by_scope: dict[Scope, list[Segment]] = {
            "all": [people, channels, files, messages],
            "messages": [messages],
            "people": [people],
            "files": [files],
            "channels": [channels],
        }
        return by_scope[scope]

    def _people(self, query: SearchQuery, chats: list[ChatInfo]) -> list[Person]:
        if not chats:
            return []
        found = [
            p for p in self.directory.people_in([c.chat_id for c in chats]) if _prefix_match(query, _person_words(p))
        ]
        return sorted(found, key=lambda p: (p.display_name.casefold(), p.user_id))


def _channels(query: SearchQuery, chats: list[ChatInfo]) -> list[ChatInfo]:
    named = [c for c in chats if c.name and _prefix_match(query, [*_NAME_WORD.findall(c.name), c.chat_id])]
    return sorted(named, key=lambda c: ((c.name or "").casefold(), c.chat_id))


def _person_words(person: Person) -> list[str]:
    return [*_NAME_WORD.findall(person.display_name), person.user_id]


def _prefix_match(query: SearchQuery, words: list[str]) -> bool:
    """Every query word starts some word of the name (or the id)."""
    folded = [w.casefold() for w in words]
    return all(any(word.startswith(q.casefold()) for word in folded) for q in query.words)


def mark_prefixes(text: str, query: SearchQuery) -> str:
    """`text` HTML-escaped, with the longest query-word prefix of each word in <mark>."""
    prefixes = sorted({w.casefold() for w in query.words}, key=len, reverse=True)
    out: list[str] = []
    position = 0
    for match in _NAME_WORD.finditer(text):
        word = match.group(0)
        hit = next((p for p in prefixes if word.casefold().startswith(p)), None)
        out.append(html.escape(text[position : match.start()], quote=False))
        if hit:
            out.append(MARK_OPEN + html.escape(word[: len(hit)], quote=False) + MARK_CLOSE)
            out.append(html.escape(word[len(hit) :], quote=False))
        else:
            out.append(html.escape(word, quote=False))
        position = match.end()
    out.append(html.escape(text[position:], quote=False))
    return "".join(out)


# --- wire shapes -----------------------------------------------------------------


def _message_result(hit: MessageHit) -> dict[str, Any]:
    document = hit.document
    return {
        "type": "message",
        "score": hit.score,
        "highlight": {"content": hit.highlights},
        "message": {
            "messageId": document.message_id,
            "chatId": document.chat_id,
            "seq": document.seq,
            "senderId": document.sender_id,
            "senderName": document.sender_name,
            "content": document.content,
            "timestamp": document.created_at,
        },
    }


def _file_result(hit: FileHit) -> dict[str, Any]:
    return {
        "type": "file",
        "score": hit.score,
        "highlight": {"name": hit.highlights},
        "file": {
            "fileId": hit.file.file_id,
            "name": hit.file.name,
            "chatId": hit.document.chat_id,
            "messageId": hit.document.message_id,
            "senderId": hit.document.sender_id,
            "size": hit.file.size,
            "mimeType": hit.file.mime_type,
            "url": hit.file.url,
            "timestamp": hit.document.created_at,
        },
    }


def _person_result(person: Person, query: SearchQuery) -> dict[str, Any]:
    return {
        "type": "person",
        "score": 1.0,
        "highlight": {"displayName": [mark_prefixes(person.display_name, query)]},
        "person": {
            "userId": person.user_id,
            "displayName": person.display_name,
            "email": None,
            "avatar": None,
            "status": None,
        },
    }


def _channel_result(chat: ChatInfo, query: SearchQuery) -> dict[str, Any]:
    name = chat.name or chat.chat_id
    return {
        "type": "channel",
        "score": 1.0,
        "highlight": {"name": [mark_prefixes(name, query)]},
        "channel": {
            "channelId": chat.chat_id,
            "teamId": None,
            "name": name,
            "description": None,
            "type": chat.chat_type,
        },
    }


def _person_suggestion(person: Person, query: SearchQuery) -> dict[str, Any]:
    return {
        "type": "person",
        "text": person.display_name,
        "highlight": mark_prefixes(person.display_name, query),
        "userId": person.user_id,
    }


def _chat_suggestion(chat: ChatInfo, query: SearchQuery) -> dict[str, Any]:
    name = chat.name or chat.chat_id
    return {"type": "channel", "text": name, "highlight": mark_prefixes(name, query), "chatId": chat.chat_id}


def _message_suggestion(hit: MessageHit) -> dict[str, Any]:
    content = hit.document.content
    text = content if len(content) <= SUGGESTION_TEXT_CHARS else content[: SUGGESTION_TEXT_CHARS - 1] + "…"
    return {
        "type": "message",
        "text": text,
        "highlight": hit.highlights[0] if hit.highlights else html.escape(text, quote=False),
        "messageId": hit.document.message_id,
        "chatId": hit.document.chat_id,
        "senderName": hit.document.sender_name,
    }


# --- cursors ---------------------------------------------------------------------------------


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded.encode()))["o"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BadFrame("cursor is not one this server returned; start again without it") from None
    if type(offset) is not int or not 0 <= offset < MAX_RESULT_WINDOW:
        raise BadFrame("cursor is not one this server returned; start again without it")
    return offset


def utc_now() -> datetime:
    return datetime.now(UTC)
