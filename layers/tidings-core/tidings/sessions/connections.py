"""Connections as the session sees them, and the one way the server closes one.

A server-initiated close always sends its reason first, as an `error` frame through the
@connections API, and only then deletes the connection: API Gateway closes with 1000 and no
application code, so the frame is the only way a client learns why.

A connection is never open without a record. API Gateway answers 410 for a connection until its
`$connect` has returned and its handshake completed, although `$connect` has stored it by then;
so a young connection that answers 410 may still open. Closing one of those (an eviction or a
revoke that races a connect) keeps its record and tries again a second later, through the
token timer queue, until the connection answers or is old enough to be gone for good.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from tidings.kernel.connections_api import ConnectionPoster
from tidings.kernel.errors import ErrorCode
from tidings.kernel.wire import encode, error_frame

# How long after its connect time a connection may still be inside its handshake. It must
# exceed the authorizer's and `$connect`'s timeouts together (10 s each, declared in
# `tidings.app`; API Gateway's own integration timeout is 29 s), plus the handshake itself:
# a connection this young that answers 410 may yet open, so it is never forgotten.
HANDSHAKE_GRACE_MS = 30_000
# A close that met a connection still in its handshake is tried again this much later.
CLOSE_RETRY_SECONDS = 1


@dataclass(frozen=True)
class ConnectionRef:
    """A connection as its user's record knows it: enough to pick the oldest."""

    connection_id: str
    connected_at_ms: int


@dataclass(frozen=True)
class ConnectionState:
    connection_id: str
    user_id: str
    connected_at_ms: int
    token_expires_at: int
    protocol_version: int | None = None
    focus_chat_id: str | None = None


def may_be_in_handshake(connected_at_ms: int, now: float) -> bool:
    """True when a 410 from this connection proves nothing: it may not have opened yet."""
    return now * 1000 - connected_at_ms < HANDSHAKE_GRACE_MS


class ConnectionStore(Protocol):
    def add(self, connection_id: str, user_id: str, connected_at_ms: int, token_expires_at: int) -> list[ConnectionRef]:
        """Stores the connection, then adds it to its user's live connections. Returns them
        as that atomic write left them, oldest first: exactly the connections stored before it
        and not yet removed, and itself."""

    def remove(self, connection_id: str, user_id: str | None = None) -> None:
        """Takes the connection out of its user's live connections, then deletes its record.
        Without `user_id`, the record says whose it is."""

    def withdraw(self, user_id: str, connection_id: str) -> bool:
        """Takes the connection out of its user's live connections and keeps its record; False
        when it was not among them (someone else took it out first)."""

    def get(self, connection_id: str) -> ConnectionState | None: ...

    def user_connections(self, user_id: str) -> list[ConnectionRef]:
        """The user's live connections, oldest first (a strongly consistent read)."""

    def set_protocol(self, connection_id: str, version: int, client: str | None) -> None:
        """Raises NotFound when the connection is gone."""

    def set_focus(self, connection_id: str, chat_id: str | None) -> None:
        """Raises NotFound when the connection is gone."""

    def extend_token(self, connection_id: str, expires_at: int) -> bool:
        """Moves `tokenExpiresAt` forward to `expires_at`; False if it already was at or past
        it. Raises NotFound when the connection is gone."""


@dataclass(frozen=True)
class PendingClose:
    """A close to try (again): the reason frame, encoded, then DeleteConnection."""

    connection_id: str
    data: str


class CloseQueue(Protocol):
    def schedule(self, close: PendingClose, delay_seconds: int) -> None: ...


class CloseOutcome(StrEnum):
    CLOSED = "closed"  # the frame was posted and the connection deleted
    DEFERRED = "deferred"  # still in its handshake: tried again later, its record kept
    GONE = "gone"  # it had gone already; its record is forgotten


@dataclass(frozen=True, eq=False)
class Disconnector:
    """Closes connections the protocol's way: the reason as an `error` frame, then the close."""

    connections: ConnectionStore
    poster: ConnectionPoster
    later: CloseQueue
    now: Callable[[], float]

    def close(self, connection_id: str, frame: dict[str, Any]) -> CloseOutcome:
        """Posts `frame`, deletes the connection and forgets it. A connection that answers 410
        while it may still be in its handshake keeps its record and is tried again later; one
        that is gone for good is only forgotten. Failures of the @connections API raise, with
        the record kept (so a retry finds the connection again)."""
        return self.attempt(PendingClose(connection_id, encode(frame)))

    def close_with_error(self, connection_id: str, code: ErrorCode, message: str) -> CloseOutcome:
        return self.close(connection_id, error_frame(code, message))

    def close_later(self, connection_id: str, frame: dict[str, Any]) -> None:
        """Queues the close instead of trying it now (after a failed attempt, say)."""
        self.later.schedule(PendingClose(connection_id, encode(frame)), CLOSE_RETRY_SECONDS)

    def attempt(self, close: PendingClose) -> CloseOutcome:
        """One try of a close; a queued retry arrives here too."""
        if self.poster.post(close.connection_id, close.data):
            self.poster.close(close.connection_id)
            self.connections.remove(close.connection_id)
            return CloseOutcome.CLOSED
        state = self.connections.get(close.connection_id)
        if state is None:  # closed, or refused by its own $connect: nothing can open any more
            return CloseOutcome.GONE
        if may_be_in_handshake(state.connected_at_ms, self.now()):
            self.later.schedule(close, CLOSE_RETRY_SECONDS)
            return CloseOutcome.DEFERRED
        self.connections.remove(close.connection_id, state.user_id)
        return CloseOutcome.GONE
