"""Search payloads."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tidings.search.searching import DEFAULT_LIMIT, MAX_LIMIT

# The parser reads the first 1000 characters; this only bounds what is accepted at all.
MAX_QUERY_PAYLOAD_CHARS = 4000


class SearchQueryPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: str = Field(max_length=MAX_QUERY_PAYLOAD_CHARS)
    scope: Literal["all", "messages", "people", "files", "channels"] = "all"
    chatId: str | None = Field(None, min_length=1, max_length=128)
    cursor: str | None = Field(None, min_length=1, max_length=512)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class SearchSuggestPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: str = Field(max_length=MAX_QUERY_PAYLOAD_CHARS)
