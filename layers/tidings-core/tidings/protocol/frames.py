"""The wire format (PROTOCOL.md §2): frame envelope, client payloads and server frame builders."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tidings.errors import ErrorCode

MAX_FRAME_BYTES = 64 * 1024
MAX_CONTENT_CHARS = 16_000


def iso(epoch_seconds: float) -> str:
    """Epoch seconds as the wire's timestamp format: `2026-11-25T10:15:00.000Z`."""
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now_iso() -> str:
    return iso(time.time())


class ClientFrame(BaseModel):
    """The envelope every client frame shares. `payload` is validated per type."""

    type: str = Field(min_length=1, max_length=64)
    id: str = Field(min_length=1, max_length=128)
    timestamp: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class EmptyPayload(_Payload):
    pass


class Attachment(_Payload):
    name: str = Field(min_length=1, max_length=255)
    fileId: str | None = Field(None, max_length=128)
    url: str | None = Field(None, max_length=2048)
    size: int | None = Field(None, ge=0)
    mimeType: str | None = Field(None, max_length=255)


class MessageSendPayload(_Payload):
    chatId: str = Field(min_length=1, max_length=128)
    content: str = Field(min_length=1, max_length=MAX_CONTENT_CHARS)
    replyTo: str | None = Field(None, max_length=128)
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)
    priority: Literal["normal", "urgent"] = "normal"


class MessageEditPayload(_Payload):
    messageId: str = Field(min_length=1, max_length=128)
    content: str = Field(min_length=1, max_length=MAX_CONTENT_CHARS)


class MessageDeletePayload(_Payload):
    messageId: str = Field(min_length=1, max_length=128)


class MessageReactPayload(_Payload):
    messageId: str = Field(min_length=1, max_length=128)
    emoji: str = Field(min_length=1, max_length=64)
    action: Literal["add", "remove"]


class ChatPayload(_Payload):
    """`typing.start`, `typing.stop`."""

    chatId: str = Field(min_length=1, max_length=128)


class ReadMarkPayload(_Payload):
    chatId: str = Field(min_length=1, max_length=128)
    messageId: str = Field(min_length=1, max_length=128)


def server_frame(frame_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": frame_type, "id": str(uuid.uuid4()), "timestamp": utc_now_iso(), "payload": payload}


def ack_ok(ref_id: str, **fields: Any) -> dict[str, Any]:
    return server_frame("ack", {"refId": ref_id, "status": "ok", **fields})


def ack_error(ref_id: str, code: ErrorCode, message: str, retry_after_ms: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code.value, "message": message}
    if retry_after_ms is not None:
        error["retryAfterMs"] = retry_after_ms
    return server_frame("ack", {"refId": ref_id, "status": "error", "error": error})


def error_frame(code: ErrorCode, message: str, ref_id: str | None = None, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"code": code.value, "message": message, **extra}
    if ref_id is not None:
        payload["refId"] = ref_id
    return server_frame("error", payload)


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
