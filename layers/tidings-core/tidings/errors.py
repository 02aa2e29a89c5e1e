"""Domain errors, each carrying the protocol error code it becomes (PROTOCOL.md §2).

Domain and storage code raise these; `tidings.edge.websocket` is the one place that turns them
into `ack`/`error` frames.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    BAD_FRAME = "BAD_FRAME"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    FRAME_TOO_LARGE = "FRAME_TOO_LARGE"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    CONNECTION_LIMIT = "CONNECTION_LIMIT"
    UPGRADE_REQUIRED = "UPGRADE_REQUIRED"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


class TidingsError(Exception):
    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, *, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_ms = retry_after_ms


class BadFrame(TidingsError):
    code = ErrorCode.BAD_FRAME


class Forbidden(TidingsError):
    code = ErrorCode.FORBIDDEN


class NotFound(TidingsError):
    code = ErrorCode.NOT_FOUND


class Conflict(TidingsError):
    """The same sender reused a frame id for a different request (the first one stands)."""

    code = ErrorCode.CONFLICT


class RateLimited(TidingsError):
    code = ErrorCode.RATE_LIMITED


class Unavailable(TidingsError):
    code = ErrorCode.UNAVAILABLE


class Unauthorized(TidingsError):
    code = ErrorCode.UNAUTHORIZED
