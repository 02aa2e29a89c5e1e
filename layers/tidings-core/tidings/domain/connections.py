"""Connections as the session sees them, and the one way the server closes one.

A server-initiated close always sends its reason first, as an `error` frame through the
@connections API, and only then deletes the connection: API Gateway closes with 1000 and no
application code, so the frame is the only way a client learns why (PROTOCOL.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tidings.errors import ErrorCode
from tidings.protocol.frames import encode, error_frame

# API Gateway answers 410 for a connection until its $connect has returned and the handshake
# completed, but the $connect handler has stored it before that. A connection this young that
# answers 410 may be one of those, so a delivery never forgets it (`forget_gone`).
HANDSHAKE_GRACE_MS = 10_000


@dataclass(frozen=True)
class ConnectionRef:
    """A connection as the user index knows it: enough to pick the oldest."""

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


class ConnectionStore(Protocol):
    def add(self, connection_id: str, user_id: str, connected_at_ms: int, token_expires_at: int) -> None: ...

    def remove(self, connection_id: str) -> None: ...

    def get(self, connection_id: str) -> ConnectionState | None: ...

    def user_connections(self, user_id: str) -> list[ConnectionRef]:
        """Oldest first, through the user index (eventually consistent)."""

    def set_protocol(self, connection_id: str, version: int, client: str | None) -> None:
        """Raises NotFound when the connection is gone."""

    def set_focus(self, connection_id: str, chat_id: str | None) -> None:
        """Raises NotFound when the connection is gone."""

    def extend_token(self, connection_id: str, expires_at: int) -> bool:
        """Moves `tokenExpiresAt` forward to `expires_at`; False if it already was at or past
        it. Raises NotFound when the connection is gone."""


class ConnectionPoster(Protocol):
    def post(self, connection_id: str, data: str) -> bool:
        """False when the connection is gone (410); other failures raise."""

    def close(self, connection_id: str) -> bool:
        """DeleteConnection; False when it was gone already."""


class Disconnector:
    """Closes connections the protocol's way: the reason as an `error` frame, then the close."""

    def __init__(self, connections: ConnectionStore, poster: ConnectionPoster) -> None:
        self._connections = connections
        self._poster = poster

    def close(self, connection_id: str, frame: dict[str, Any]) -> None:
        """Posts `frame`, deletes the connection and forgets it. A connection that is gone
        already is only forgotten. Failures of the @connections API raise, after the item is
        kept (so a retry finds the connection again)."""
        if self._poster.post(connection_id, encode(frame)):
            self._poster.close(connection_id)
        self._connections.remove(connection_id)

    def close_with_error(self, connection_id: str, code: ErrorCode, message: str) -> None:
        self.close(connection_id, error_frame(code, message))
