"""A message as every feature sees it, and its @mentions."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tidings.kernel.wire import camel_fields

MAX_MENTION_CANDIDATES = 50


BROADCAST_MENTIONS = ("channel", "here")


# `@userId` not preceded by a word character (so e-mail addresses don't count); ids may contain
# dots and dashes inside but not at the end ("hi @bob." mentions bob).
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?)")


@dataclass(frozen=True)
class Message:
    message_id: str
    chat_id: str
    seq: int
    sender_id: str
    sender_name: str
    content: str | None
    created_at: str
    reply_to: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    priority: str = "normal"
    edited_at: str | None = None
    deleted: bool = False
    reactions: dict[str, list[str]] = field(default_factory=dict)
    # Follows the message through the functions that handle it; on the envelope of its frames,
    # not in the message (docs/operations.md). None for a message stored before trace ids.
    trace_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return camel_fields(self, omit=("trace_id",))


def mention_candidates(content: str) -> list[str]:
    """The `@names` in the content, in order of first appearance, without duplicates."""
    seen: dict[str, None] = {}
    for match in _MENTION.finditer(content):
        seen.setdefault(match.group(1), None)
    return list(seen)


def resolve_mentions(candidates: Iterable[str], member_ids: set[str]) -> list[str]:
    """Keeps the candidates that name a member, plus `@channel`/`@here` (stored with their `@`
    so they can never be confused with a user id)."""
    resolved: list[str] = []
    for name in candidates:
        if name in BROADCAST_MENTIONS:
            resolved.append(f"@{name}")
        elif name in member_ids:
            resolved.append(name)
    return resolved
