"""Session frames (PROTOCOL.md §3) that need no storage."""

from __future__ import annotations

from typing import Any

from tidings.kernel.errors import ErrorCode
from tidings.kernel.router import Caller
from tidings.kernel.wire import ClientFrame, EmptyPayload, ack_error, server_frame


def answer_unrouted_frame(caller: Caller, frame: ClientFrame, payload: EmptyPayload) -> dict[str, Any]:
    """`ping` gets `pong`; any other type reached `$default` because no route knows it."""
    if frame.type == "ping":
        return server_frame("pong", {"refId": frame.id})
    return ack_error(frame.id, ErrorCode.UNKNOWN_TYPE, f"Unknown frame type {frame.type!r}")
