"""The wire format (PROTOCOL.md §2): frame envelope, client payloads and server frame builders."""

from __future__ import annotations

import ipaddress
import json
import re
import time
import unicodedata
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from tidings.errors import ErrorCode
from tidings.protocol.emoji import emoji_problem

MAX_FRAME_BYTES = 64 * 1024
MAX_CONTENT_CHARS = 16_000
MAX_ID_CHARS = 128
# The largest seq a client may name: JavaScript clients hold seqs as doubles, exact to 2^53 - 1,
# and anything larger (past 38 digits) is a number DynamoDB refuses in a key condition.
MAX_SEQ = 2**53 - 1
MAX_ATTACHMENT_BYTES = 100 * 1024 * 1024  # 100 MiB, the upload limit
MAX_URL_CHARS = 2048
# Zero-width (non-)joiners are format characters that names legitimately hold (emoji, Indic
# scripts); every other format character (bidi overrides, zero-width spaces, BOMs) is hidden.
_VISIBLE_FORMAT_CHARACTERS = frozenset("\u200c\u200d")
# type/subtype (RFC 6838 names), then optional parameters in printable ASCII.
_MIME_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_!#$&^.+-]*/[A-Za-z0-9][A-Za-z0-9_!#$&^.+-]*( *;[ -~]*)?", re.ASCII)


def iso(epoch_seconds: float) -> str:
    """Epoch seconds as the wire's timestamp format: `2026-11-25T10:15:00.000Z`."""
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now_iso() -> str:
    return iso(time.time())


def _plain(value: str) -> str:
    """Ids, names, types: no control characters, no hidden formatting, no lone surrogates."""
    for char in value:
        category = unicodedata.category(char)
        if category in ("Cc", "Cs") or (category == "Cf" and char not in _VISIBLE_FORMAT_CHARACTERS):
            raise ValueError(f"must not contain control or invisible characters (U+{ord(char):04X})")
    return value


def _emoji(value: str) -> str:
    problem = emoji_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _attachment_url(value: str) -> str:
    """An `https://` URL (or `http://` on this machine, for local use) with a host and no
    credentials: never `javascript:`, `data:` or anything a client would run or mistake."""
    if any(char.isspace() for char in value):
        raise ValueError("must not contain spaces")
    _plain(value)
    try:
        parts = urlsplit(value)
        host, _ = parts.hostname, parts.port  # a bad port raises
    except ValueError:
        raise ValueError("must be a URL") from None
    if parts.scheme not in ("https", "http"):
        raise ValueError("must be an https:// URL")
    if not host or parts.username is not None or parts.password is not None:
        raise ValueError("must be an https:// URL with a host and without credentials")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValueError("must be an https:// URL (http:// only for localhost)")
    return value


def _mime_type(value: str) -> str:
    if not _MIME_TYPE.fullmatch(value):
        raise ValueError("must be a media type like application/pdf")
    return value


Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS), AfterValidator(_plain)]
# pydantic itself refuses a lone surrogate (`"\ud800"`, which UTF-8 cannot carry) in a
# constrained string, so no text field needs its own check for one.
Content = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT_CHARS)]
Emoji = Annotated[str, AfterValidator(_emoji)]


class ClientFrame(BaseModel):
    """The envelope every client frame shares. `payload` is validated per type."""

    type: str = Field(min_length=1, max_length=64)
    id: Identifier  # part of idempotency keys and echoed as `refId`
    timestamp: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class EmptyPayload(_Payload):
    pass


class Attachment(_Payload):
    """A file reference. Until uploads are part of the protocol, `url` is a link the sender
    gives; it must be https (see `_attachment_url`)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_plain)]
    fileId: Identifier | None = None
    url: (
        Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL_CHARS), AfterValidator(_attachment_url)]
        | None
    ) = None
    # Strict: a JSON integer, not `true`, `"12"` or `1e3`; bounded, so the search index (a long) holds it.
    size: int | None = Field(None, ge=0, le=MAX_ATTACHMENT_BYTES, strict=True)
    mimeType: Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_mime_type)] | None = None


class MessageSendPayload(_Payload):
    chatId: Identifier
    content: Content
    replyTo: Identifier | None = None  # a message of the same chat (checked against storage)
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)
    priority: Literal["normal", "urgent"] = "normal"


class MessageEditPayload(_Payload):
    messageId: Identifier
    content: Content


class MessageDeletePayload(_Payload):
    messageId: Identifier


class MessageReactPayload(_Payload):
    messageId: Identifier
    emoji: Emoji  # one to four emoji, nothing else (tidings.protocol.emoji)
    action: Literal["add", "remove"]


class ChatPayload(_Payload):
    """`typing.start`, `typing.stop`."""

    chatId: Identifier


class ReadMarkPayload(_Payload):
    chatId: Identifier
    messageId: Identifier


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
