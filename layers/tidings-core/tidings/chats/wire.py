"""The chat list on the wire (docs/protocol.md, "GET /api/chats")."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tidings.kernel.wire import ServerPayload


class ChatMemberWire(ServerPayload):
    userId: str
    displayName: str
    role: Literal["admin", "member"]


class ChatSummaryWire(ServerPayload):
    chatId: str
    name: str | None = Field(description="null for a DM: show the other member's name")
    type: Literal["dm", "group", "channel"]
    members: list[ChatMemberWire]
    unreadCount: int
    mentionCount: int
    lastReadSeq: int = Field(description="The caller's read watermark")
    headSeq: int = Field(description="The chat's latest seq")
    muted: bool
    pinned: bool
