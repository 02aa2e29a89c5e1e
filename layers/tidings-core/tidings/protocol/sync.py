"""Sync payloads (PROTOCOL.md §6): the two forms of `sync.request`.

Single chat: `{chatId, lastKnownSeq, limit?}`, or `{chatId, cursor, limit?}` to continue a page
(a `cursor` replaces `lastKnownSeq` when both are given).

Every chat at once: `{chats: {"<chatId>": lastKnownSeq | cursor, …}, limit?}`, at most
`MAX_SYNC_CHATS` chats; `limit` applies to each chat.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from tidings.domain.sync import MAX_SEQ

MAX_SYNC_LIMIT = 500
DEFAULT_SYNC_LIMIT = 100
MAX_SYNC_CHATS = 100
MAX_CURSOR_CHARS = 512

ChatId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Seq = Annotated[int, Field(ge=0, le=MAX_SEQ, strict=True)]
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CURSOR_CHARS)]


class SyncRequestPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    chatId: ChatId | None = None
    lastKnownSeq: Seq | None = None
    cursor: Cursor | None = None
    chats: dict[ChatId, Seq | Cursor] | None = Field(None, max_length=MAX_SYNC_CHATS)
    limit: int = Field(DEFAULT_SYNC_LIMIT, ge=1, le=MAX_SYNC_LIMIT)

    @model_validator(mode="after")
    def _one_form(self) -> SyncRequestPayload:
        if self.chats is not None:
            if self.chatId is not None or self.lastKnownSeq is not None or self.cursor is not None:
                raise ValueError("send either chats, or chatId with lastKnownSeq or cursor; not both")
            return self
        if self.chatId is None:
            raise ValueError("chatId (or chats) is required")
        if self.lastKnownSeq is None and self.cursor is None:
            raise ValueError("lastKnownSeq (or cursor) is required")
        return self
