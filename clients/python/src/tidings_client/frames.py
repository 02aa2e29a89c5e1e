"""Frames on the wire: one JSON object per WebSocket text message."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

Frame = dict[str, Any]

# Chat events: each takes the chat's next `seq` (in `payload.seq`), so the client orders and
# de-duplicates them and fills gaps with `sync.request`. `read.receipt` also carries a `seq`
# (a read watermark), which is why the set is explicit rather than "any frame with a seq".
CHAT_EVENT_TYPES = frozenset(
    {
        "message.new",
        "message.updated",
        "message.deleted",
        "message.reaction",
        "member.joined",
        "member.left",
        "chat.updated",
    }
)

# The `traceId` a `message.send` may give: the server keeps one like this and replaces anything else.
TRACE_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")

# Frames that answer a client frame carry its id as `payload.refId`.
REPLY_TYPES = frozenset({"ack", "error", "welcome", "pong", "sync.response", "search.results", "search.suggestions"})


def new_id() -> str:
    return str(uuid.uuid4())


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_frame(
    frame_type: str, payload: dict[str, Any], frame_id: str | None = None, trace_id: str | None = None
) -> Frame:
    frame: Frame = {"type": frame_type, "id": frame_id or new_id(), "timestamp": iso_now(), "payload": payload}
    if trace_id is not None:
        frame["traceId"] = trace_id
    return frame


def encode(frame: Frame) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def decode(text: str) -> Frame | None:
    """The frame in `text`, or None when it is not a JSON object."""
    try:
        frame = json.loads(text)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


def payload_of(frame: Frame) -> dict[str, Any]:
    payload = frame.get("payload")
    return payload if isinstance(payload, dict) else {}


def ref_id(frame: Frame) -> str | None:
    ref = payload_of(frame).get("refId")
    return ref if isinstance(ref, str) else None


def chat_event_position(frame: Frame) -> tuple[str, int] | None:
    """(chatId, seq) of a chat event frame, None for any other frame."""
    if frame.get("type") not in CHAT_EVENT_TYPES:
        return None
    payload = payload_of(frame)
    chat_id, seq = payload.get("chatId"), payload.get("seq")
    if isinstance(chat_id, str) and isinstance(seq, int) and not isinstance(seq, bool):
        return chat_id, seq
    return None


def message_id_of(frame: Frame) -> str | None:
    """The message id a `message.new` introduces (duplicates are dropped by it)."""
    if frame.get("type") != "message.new":
        return None
    message = payload_of(frame).get("message")
    message_id = message.get("messageId") if isinstance(message, dict) else None
    return message_id if isinstance(message_id, str) else None


# What a protocol v2 `message.new` may carry for its recipient, and the frame version 1 sends it in.
CARRIED_NOTICES = (("badge", "notification.badge"), ("toast", "notification.toast"))


def split_notices(frame: Frame) -> tuple[Frame, list[Frame]]:
    """A protocol v2 `message.new` as version 1 sends it: the frame without the recipient's
    `badge` and `toast`, and those as the `notification.badge` and `notification.toast` frames
    that follow it there. Any other frame is returned as it is, with no notices."""
    payload = payload_of(frame)
    if frame.get("type") != "message.new" or not any(name in payload for name, _ in CARRIED_NOTICES):
        return frame, []
    notices = [
        make_frame(frame_type, payload[name])
        for name, frame_type in CARRIED_NOTICES
        if isinstance(payload.get(name), dict)
    ]
    rest = {key: value for key, value in payload.items() if key not in dict(CARRIED_NOTICES)}
    return {**frame, "payload": rest}, notices
