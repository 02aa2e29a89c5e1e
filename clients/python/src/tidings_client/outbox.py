"""Where mutations wait until the server acknowledges them.

Every `send`, `edit`, `delete` and `react` is written to the outbox before it goes out, and
removed only when its ack (or a final error) arrives. A client started with the same store
after a crash or restart sends what is left, with the same frame ids, so the server's
idempotency turns a repeat into the original ack instead of a second message.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class OutboxEntry:
    id: str  # the frame id, reused by every retry
    type: str  # message.send, message.edit, message.delete, message.react
    payload: dict[str, Any]
    lane: str  # entries of one lane go out one at a time, in order (one chat's messages)
    created_at: float  # epoch seconds
    trace_id: str | None = None  # the envelope's `traceId` (message.send), sent on every retry


class OutboxStore(Protocol):
    def load(self) -> list[OutboxEntry]:
        """Every entry not yet removed, oldest first."""
        ...

    def add(self, entry: OutboxEntry) -> None: ...

    def remove(self, entry_id: str) -> None: ...


class MemoryOutbox:
    """The default: pending mutations survive reconnects, not a restart of the process."""

    def __init__(self) -> None:
        self._entries: dict[str, OutboxEntry] = {}

    def load(self) -> list[OutboxEntry]:
        return list(self._entries.values())

    def add(self, entry: OutboxEntry) -> None:
        self._entries[entry.id] = entry

    def remove(self, entry_id: str) -> None:
        self._entries.pop(entry_id, None)


# The file's schema, by `PRAGMA user_version`: each step upgrades a file of the version before it
# in place, so an outbox written by an older release opens (and flushes) in a newer one. Files
# from before versions were recorded say 0 and have version 1's table.
SCHEMA = (
    "CREATE TABLE outbox ("
    " position INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, payload TEXT NOT NULL,"
    " lane TEXT NOT NULL, created_at REAL NOT NULL)",
    "ALTER TABLE outbox ADD COLUMN trace_id TEXT",
)


class SqliteOutbox:
    """Pending mutations in a SQLite file, so a bot's unsent messages survive a restart.

    One file per client (per user): entries are sent by whichever client loads them.
    Each add and remove is its own committed transaction.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._migrate()

    def _migrate(self) -> None:
        # IMMEDIATE: two clients opening one old file at once upgrade it once.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                has_table = self._db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'"
                ).fetchone()
                version = 1 if has_table else 0
            if version > len(SCHEMA):
                raise RuntimeError(
                    f"{self.path} is outbox schema version {version}, newer than this tidings_client "
                    f"reads ({len(SCHEMA)}): upgrade tidings_client"
                )
            for step in SCHEMA[version:]:
                self._db.execute(step)
            self._db.execute(f"PRAGMA user_version = {len(SCHEMA)}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._db.close()
            raise

    def load(self) -> list[OutboxEntry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, type, payload, lane, created_at, trace_id FROM outbox ORDER BY position"
            ).fetchall()
        return [
            OutboxEntry(
                id=row[0], type=row[1], payload=json.loads(row[2]), lane=row[3], created_at=row[4], trace_id=row[5]
            )
            for row in rows
        ]

    def add(self, entry: OutboxEntry) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO outbox (id, type, payload, lane, created_at, trace_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (entry.id, entry.type, json.dumps(entry.payload), entry.lane, entry.created_at, entry.trace_id),
            )

    def remove(self, entry_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (entry_id,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
