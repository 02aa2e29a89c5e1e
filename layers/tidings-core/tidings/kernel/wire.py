"""The wire envelope every frame shares (docs/protocol.md, "Frames"): the client frame, the
identifiers it carries, and the builders of server frames, acks and error frames. Each feature's
`wire.py` holds its own payload models and frames on top of these."""

from __future__ import annotations

import json
import time
import unicodedata
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from tidings.kernel.errors import ErrorCode

MAX_FRAME_BYTES = 64 * 1024
MAX_ID_CHARS = 128
# Zero-width (non-)joiners are format characters that names legitimately hold (emoji, Indic
# scripts); every other format character (bidi overrides, zero-width spaces, BOMs) is hidden.
_VISIBLE_FORMAT_CHARACTERS = frozenset("\u200c\u200d")


def iso(epoch_seconds: float) -> str:
    """Epoch seconds as the wire's timestamp format: `2026-11-25T10:15:00.000Z`."""
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now_iso() -> str:
    return iso(time.time())


def plain(value: str) -> str:
    """Ids, names, types: no control characters, no hidden formatting, no lone surrogates."""
    for char in value:
        category = unicodedata.category(char)
        if category in ("Cc", "Cs") or (category == "Cf" and char not in _VISIBLE_FORMAT_CHARACTERS):
            raise ValueError(f"must not contain control or invisible characters (U+{ord(char):04X})")
    return value


Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS), AfterValidator(plain)]


class ClientFrame(BaseModel):
    """The envelope every client frame shares. `payload` is validated per type."""

    type: str = Field(min_length=1, max_length=64)
    id: Identifier  # part of idempotency keys and echoed as `refId`
    timestamp: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class Payload(BaseModel):
    """The base of every client payload model: unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class EmptyPayload(Payload):
    pass


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
