"""The wire envelope every frame shares (docs/protocol.md, "Frames"): the client frame, the
identifiers it carries, and the builders of server frames, acks and error frames. Each feature's
`wire.py` holds its own payload models and frames on top of these."""

from __future__ import annotations

import json
import re
import time
import unicodedata
import uuid
from dataclasses import fields
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema

from tidings.kernel.errors import ErrorCode
from tidings.kernel.lazy_model import LazyModel

MAX_FRAME_BYTES = 64 * 1024
MAX_ID_CHARS = 128
# Zero-width (non-)joiners are format characters that names legitimately hold (emoji, Indic
# scripts); every other format character (bidi overrides, zero-width spaces, BOMs) is hidden.
_VISIBLE_FORMAT_CHARACTERS = frozenset("\u200c\u200d")


def iso(epoch_seconds: float) -> str:
    """Epoch seconds as the wire's timestamp format: `2026-11-25T10:15:00.000Z`."""
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_WIRE_NAMES: dict[tuple[type, tuple[str, ...]], tuple[tuple[str, str], ...]] = {}


def _wire_names(dataclass_type: type, omit: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    names = _WIRE_NAMES.get((dataclass_type, omit))
    if names is None:  # once per type: this is on the fan-out's path
        names = tuple((f.name, to_camel(f.name)) for f in fields(dataclass_type) if f.name not in omit)
        _WIRE_NAMES[(dataclass_type, omit)] = names
    return names


def camel_fields(instance: Any, *, omit: tuple[str, ...] = ()) -> dict[str, Any]:
    """A dataclass's fields under their wire names (`chat_id` → `chatId`), in declaration order,
    but for `omit`: for result types whose wire shape is their fields as they are."""
    return {key: getattr(instance, name) for name, key in _wire_names(type(instance), omit)}


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

# A trace id follows one message through the functions that handle it (docs/operations.md).
TRACE_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


def trace_id_of(given: object) -> str:
    """The client's `traceId` when it is one, else a new one: a bad trace id is never an error
    (it is for the operator's logs, not the request)."""
    if isinstance(given, str) and TRACE_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


class ClientFrame(LazyModel):
    """The envelope every client frame shares. `payload` is validated per type."""

    type: str = Field(min_length=1, max_length=64)
    id: Identifier  # part of idempotency keys and echoed as `refId`
    timestamp: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    # Unvalidated on purpose: `trace_id_of` keeps a valid one and replaces anything else.
    traceId: Any = None


class Payload(LazyModel):
    """The base of every client payload model: unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class EmptyPayload(Payload):
    pass


class ServerPayload(LazyModel):
    """The base of every server payload model: the wire's shape, exactly (docs/asyncapi.yaml is
    generated from these). A field the server may leave out has a default of None and is left out
    when None; a field that may be `null` on the wire is required and typed `X | None`."""

    model_config = ConfigDict(extra="forbid")

    @model_serializer(mode="wrap")
    def _leave_out_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name, field in type(self).model_fields.items():
            if data.get(name, ...) is None and not field.is_required() and field.default is None:
                del data[name]
        return data


# A field the server leaves out rather than send `null` (the schema shows only the value's type).
Absent = SkipJsonSchema[None]


def server_frame(
    frame_type: str, payload: dict[str, Any] | ServerPayload, trace_id: str | None = None
) -> dict[str, Any]:
    """A server frame; `trace_id`: the trace of the message it is about, when known."""
    if isinstance(payload, ServerPayload):
        payload = payload.model_dump(mode="json", by_alias=True)
    frame = {"type": frame_type, "id": str(uuid.uuid4()), "timestamp": utc_now_iso(), "payload": payload}
    if trace_id is not None:
        frame["traceId"] = trace_id
    return frame


class ServerFrameEnvelope(LazyModel):
    """What every server frame carries besides its payload. `traceId` is left out when absent
    (a frame about no message, such as `member.joined`, has none), also inside a `sync.response`."""

    @model_serializer(mode="wrap")
    def _leave_out_absent_trace(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("traceId", ...) is None:
            del data["traceId"]
        return data

    type: str
    id: str = Field(description="A UUID the server gives each frame")
    timestamp: str = Field(description="When the frame was made, ISO 8601 UTC: 2026-11-25T10:15:00.000Z")
    traceId: str | Absent = Field(
        None,
        description="On frames about a message: the trace id its `message.send` gave or the server minted",
        pattern=TRACE_ID.pattern,
    )


class ErrorDetail(ServerPayload):
    code: ErrorCode
    message: str
    retryAfterMs: int | Absent = Field(None, description="With RATE_LIMITED: wait this long, then retry")


class AckOk(ServerPayload):
    """A plain `ack`: the frame was done. Routes that answer with more extend it."""

    refId: str = Field(description="The `id` of the client frame this answers")
    status: Literal["ok"] = "ok"


class AckError(ServerPayload):
    refId: str = Field(description="The `id` of the client frame this answers")
    status: Literal["error"] = "error"
    error: ErrorDetail


class ErrorPayload(ServerPayload):
    """An `error` frame: a frame the server could not read (no `refId` when its id cannot be
    read), or the reason before the server closes the connection."""

    code: ErrorCode
    message: str
    refId: str | Absent = None
    upgradeUrl: str | Absent = Field(None, description="With UPGRADE_REQUIRED")
    supportedVersions: list[int] | Absent = Field(None, description="With UPGRADE_REQUIRED")


class ErrorBody(ServerPayload):
    """Every REST error: `{"error": {"code", "message"}}` with the matching HTTP status."""

    error: ErrorDetail


class GatewayErrorMessage(ServerPayload):
    """Not a frame: API Gateway's own message when a route's integration fails (the function
    crashed or timed out, or its reply exceeded 128 KiB). It has no `type`; retry the frame
    with the same `id`."""

    message: str = Field(description="`Internal server error`")
    connectionId: str
    requestId: str


class PongPayload(ServerPayload):
    refId: str


def ack_ok(ref_id: str, trace_id: str | None = None, **fields: Any) -> dict[str, Any]:
    return server_frame("ack", {"refId": ref_id, "status": "ok", **fields}, trace_id)


def ack_error(ref_id: str, code: ErrorCode, message: str, retry_after_ms: int | None = None) -> dict[str, Any]:
    error = ErrorDetail(code=code, message=message, retryAfterMs=retry_after_ms)
    return server_frame("ack", AckError(refId=ref_id, error=error))


def error_frame(
    code: ErrorCode,
    message: str,
    ref_id: str | None = None,
    upgrade_url: str | None = None,
    supported_versions: list[int] | None = None,
) -> dict[str, Any]:
    payload = ErrorPayload(
        code=code, message=message, refId=ref_id, upgradeUrl=upgrade_url, supportedVersions=supported_versions
    )
    return server_frame("error", payload)


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
