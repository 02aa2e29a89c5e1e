"""The embedded search engine: SQLite FTS5, from the standard library.

Why FTS5 and not tantivy: FTS5 ships with Python's sqlite3 (no dependency, no native wheel
to build or ship), and has what the issue asks of the local engine: BM25 ranking (`bm25()`),
phrase queries, prefix queries and highlighting (`snippet()`). tantivy would rank and analyse
closer to OpenSearch, but adds a native dependency to the layer for the local runtime only.

Layout: `messages` holds each message as indexed (a row per messageId), `messages_fts` its
searchable text (content, attachment names) under the same rowid; `files` and `files_fts` one
row per attachment. Both FTS tables use the `unicode61` tokenizer with diacritics folded, the
nearest to OpenSearch's `standard` analyzer (no stemming in either).

Safety: user text never becomes FTS5 syntax. Every term and phrase is passed as an FTS5 string
literal (double quotes doubled), so `NEAR`, `OR`, `*`, `^`, column filters and parentheses in
input are just characters; everything else is a bound SQL parameter.

Concurrency: one connection per engine, guarded by a lock (the local runtime runs handlers on
threads; the indexer and the search handler share the engine through `tidings.search.compose`). Any
SQLite error is `SearchUnavailable`.
"""

from __future__ import annotations

import html
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from tidings.kernel.observability import logger
from tidings.search.port import (
    MARK_CLOSE,
    MARK_OPEN,
    FileDocument,
    FileHit,
    MessageDocument,
    MessageHit,
    Page,
    SearchUnavailable,
    preview,
)
from tidings.search.query import SearchQuery

# Private-use characters mark matches inside snippets; they are removed from indexed text, so
# input can never forge a mark, and are turned into <mark> after the text is HTML-escaped.
_OPEN, _CLOSE = "\ue000", "\ue001"
_SNIPPET_TOKENS = 24

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    chat_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TEXT NOT NULL,
    mentions TEXT NOT NULL,
    has_attachment INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_chat ON messages (chat_id, created_at);
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
    content, attachment_names, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER,
    mime_type TEXT,
    url TEXT
);
CREATE INDEX IF NOT EXISTS files_by_message ON files (message_id);
CREATE VIRTUAL TABLE IF NOT EXISTS files_fts USING fts5(name, tokenize = 'unicode61 remove_diacritics 2');
"""


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def match_expression(query: SearchQuery) -> str:
    """The FTS5 MATCH string: every term and phrase an escaped string literal, ANDed."""
    parts = [_literal(phrase) for phrase in query.phrases]
    for position, term in enumerate(query.terms):
        last = position == len(query.terms) - 1
        parts.append(_literal(term) + ("*" if last and query.prefix_last_term else ""))
    return " ".join(parts)


def _literal(text: str) -> str:
    # FTS5 reads a NUL as the end of the query string: it separates words, as a space does.
    return '"' + text.replace('"', '""').replace("\x00", " ") + '"'


def _indexable(text: str) -> str:
    return text.replace(_OPEN, "").replace(_CLOSE, "")


def _marked(snippet: str) -> str:
    return html.escape(snippet, quote=False).replace(_OPEN, MARK_OPEN).replace(_CLOSE, MARK_CLOSE)


class EmbeddedSearchEngine:
    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                if self._connection is None:
                    connection = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
                    connection.execute("PRAGMA journal_mode=WAL")
                    connection.executescript(_SCHEMA)
                    self._connection = connection
                yield self._connection
            except sqlite3.Error as exc:
                logger.warning("embedded search engine failed", exc_info=True)
                self._close()
                raise SearchUnavailable() from exc

    def _close(self) -> None:
        if self._connection is not None:
            with suppress(sqlite3.Error):
                self._connection.close()
        self._connection = None

    def close(self) -> None:
        with self._lock:
            self._close()

    # --- writes -------------------------------------------------------------------------

    def index(self, documents: Iterable[MessageDocument]) -> None:
        with self._db() as db:
            db.execute("BEGIN")
            try:
                for document in documents:
                    self._remove(db, document.message_id)
                    self._insert_what_fits(db, document)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def remove(self, message_ids: Iterable[str]) -> None:
        with self._db() as db:
            db.execute("BEGIN")
            try:
                for message_id in message_ids:
                    self._remove(db, message_id)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def reset(self) -> None:
        with self._db() as db:
            for table in ("messages", "messages_fts", "files", "files_fts"):
                db.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)

    @classmethod
    def _insert_what_fits(cls, db: sqlite3.Connection, document: MessageDocument) -> None:
        """Inserts the document; one whose files SQLite cannot store goes in without them, and
        one it cannot store at all is skipped (logged), so it never fails the rest of the batch."""
        for attempt in (document, replace(document, files=())) if document.files else (document,):
            db.execute("SAVEPOINT document")
            try:
                cls._insert(db, attempt)
            except (OverflowError, ValueError, TypeError, sqlite3.InterfaceError, sqlite3.DataError):
                db.execute("ROLLBACK TO document")
                db.execute("RELEASE document")
                logger.warning(
                    "message not indexable as it is",
                    extra={"messageId": document.message_id, "files": len(attempt.files)},
                )
                continue
            db.execute("RELEASE document")
            return

    @staticmethod
    def _insert(db: sqlite3.Connection, document: MessageDocument) -> None:
        cursor = db.execute(
            "INSERT INTO messages (message_id, chat_id, seq, sender_id, sender_name, content, created_at,"
            " mentions, has_attachment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                document.message_id,
                document.chat_id,
                document.seq,
                document.sender_id,
                document.sender_name,
                document.content,
                document.created_at,
                json.dumps(list(document.mentions)),
                int(document.has_attachment),
            ),
        )
        names = " ".join(file.name for file in document.files)
        db.execute(
            "INSERT INTO messages_fts (rowid, content, attachment_names) VALUES (?, ?, ?)",
            (cursor.lastrowid, _indexable(document.content), _indexable(names)),
        )
        for file in document.files:
            file_cursor = db.execute(
                "INSERT INTO files (message_id, file_id, name, size, mime_type, url) VALUES (?, ?, ?, ?, ?, ?)",
                (document.message_id, file.file_id, file.name, file.size, file.mime_type, file.url),
            )
            db.execute(
                "INSERT INTO files_fts (rowid, name) VALUES (?, ?)", (file_cursor.lastrowid, _indexable(file.name))
            )

    @staticmethod
    def _remove(db: sqlite3.Connection, message_id: str) -> None:
        row = db.execute("SELECT id FROM messages WHERE message_id = ?", (message_id,)).fetchone()
        if row is None:
            return
        db.execute("DELETE FROM messages_fts WHERE rowid = ?", (row[0],))
        db.execute("DELETE FROM messages WHERE id = ?", (row[0],))
        db.execute("DELETE FROM files_fts WHERE rowid IN (SELECT id FROM files WHERE message_id = ?)", (message_id,))
        db.execute("DELETE FROM files WHERE message_id = ?", (message_id,))

    # --- reads --------------------------------------------------------------------------

    def search_messages(self, query: SearchQuery, chat_ids: Sequence[str], offset: int, limit: int) -> Page[MessageHit]:
        if not chat_ids:
            return Page(0, [])
        where, params = _filters("m", query, chat_ids)
        if query.has_text:
            source = "messages_fts JOIN messages m ON m.id = messages_fts.rowid"
            where = ["messages_fts MATCH ?", *where]
            params = [match_expression(query), *params]
            snippet = f"snippet(messages_fts, 0, '{_OPEN}', '{_CLOSE}', '…', {_SNIPPET_TOKENS})"
            columns = f"-bm25(messages_fts, 1.0, 0.5), {snippet}"
            order = "bm25(messages_fts, 1.0, 0.5), m.created_at DESC"
        else:
            source, columns, order = "messages m", "0.0, NULL", "m.created_at DESC"
        condition = " AND ".join(where)
        with self._db() as db:
            total = db.execute(f"SELECT count(*) FROM {source} WHERE {condition}", params).fetchone()[0]  # noqa: S608
            rows = db.execute(
                f"SELECT m.message_id, m.chat_id, m.seq, m.sender_id, m.sender_name, m.content, m.created_at,"  # noqa: S608
                f" m.mentions, m.id, {columns} FROM {source} WHERE {condition} ORDER BY {order} LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
            hits = []
            for row in rows:
                document = _document(row, self._files(db, row[0]))
                snippet = row[10]
                highlight = _marked(snippet) if snippet and _OPEN in snippet else preview(document.content)
                hits.append(MessageHit(document, float(row[9]), [highlight]))
        return Page(int(total), hits)

    def search_files(self, query: SearchQuery, chat_ids: Sequence[str], offset: int, limit: int) -> Page[FileHit]:
        if not chat_ids:
            return Page(0, [])
        where, params = _filters("m", query, chat_ids)
        source = "files f JOIN messages m ON m.message_id = f.message_id"
        if query.has_text:
            source = "files_fts JOIN files f ON f.id = files_fts.rowid JOIN messages m ON m.message_id = f.message_id"
            where = ["files_fts MATCH ?", *where]
            params = [match_expression(query), *params]
            columns = f"-bm25(files_fts), highlight(files_fts, 0, '{_OPEN}', '{_CLOSE}')"
            order = "bm25(files_fts), m.created_at DESC, f.id"
        else:
            columns, order = "0.0, NULL", "m.created_at DESC, f.id"
        condition = " AND ".join(where)
        with self._db() as db:
            total = db.execute(f"SELECT count(*) FROM {source} WHERE {condition}", params).fetchone()[0]  # noqa: S608
            rows = db.execute(
                f"SELECT m.message_id, m.chat_id, m.seq, m.sender_id, m.sender_name, m.content, m.created_at,"  # noqa: S608
                f" m.mentions, m.id, f.file_id, f.name, f.size, f.mime_type, f.url, {columns}"
                f" FROM {source} WHERE {condition} ORDER BY {order} LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
            hits = []
            for row in rows:
                file = FileDocument(row[9], row[10], row[11], row[12], row[13])
                document = _document(row, self._files(db, row[0]))
                name = _marked(row[15]) if row[15] else html.escape(file.name, quote=False)
                hits.append(FileHit(document, file, float(row[14]), [name]))
        return Page(int(total), hits)

    @staticmethod
    def _files(db: sqlite3.Connection, message_id: str) -> tuple[FileDocument, ...]:
        rows = db.execute(
            "SELECT file_id, name, size, mime_type, url FROM files WHERE message_id = ? ORDER BY id", (message_id,)
        ).fetchall()
        return tuple(FileDocument(*row) for row in rows)


def _filters(alias: str, query: SearchQuery, chat_ids: Sequence[str]) -> tuple[list[str], list[Any]]:
    """SQL conditions for the access control (chat ids) and the query's operators."""
    where = [f"{alias}.chat_id IN ({', '.join('?' * len(chat_ids))})"]
    params: list[Any] = list(chat_ids)
    if query.from_users:
        where.append(f"{alias}.sender_id IN ({', '.join('?' * len(query.from_users))})")
        params += list(query.from_users)
    if query.mentions:
        marks = ", ".join("?" * len(query.mentions))
        mentioned = f"SELECT 1 FROM json_each({alias}.mentions) WHERE json_each.value IN ({marks})"  # noqa: S608
        where.append(f"EXISTS ({mentioned})")
        params += list(query.mentions)
    if query.has_attachment:
        where.append(f"{alias}.has_attachment = 1")
    if query.time.start is not None:
        where.append(f"{alias}.created_at >= ?")
        params.append(iso(query.time.start))
    if query.time.end is not None:
        where.append(f"{alias}.created_at < ?")
        params.append(iso(query.time.end))
    return where, params


def _document(row: Sequence[Any], files: tuple[FileDocument, ...]) -> MessageDocument:
    return MessageDocument(
        message_id=row[0],
        chat_id=row[1],
        seq=int(row[2]),
        sender_id=row[3],
        sender_name=row[4],
        content=row[5],
        created_at=row[6],
        mentions=tuple(json.loads(row[7])),
        files=files,
    )
