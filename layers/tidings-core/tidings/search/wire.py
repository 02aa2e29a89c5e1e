"""Search payloads."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from tidings.kernel.lazy_model import LazyModel
from tidings.kernel.wire import ServerPayload
from tidings.search.searching import DEFAULT_LIMIT, MAX_LIMIT

# The parser reads the first 1000 characters; this only bounds what is accepted at all.
MAX_QUERY_PAYLOAD_CHARS = 4000


class SearchQueryPayload(LazyModel):
    model_config = ConfigDict(extra="ignore")

    query: str = Field(max_length=MAX_QUERY_PAYLOAD_CHARS)
    scope: Literal["all", "messages", "people", "files", "channels"] = "all"
    chatId: str | None = Field(None, min_length=1, max_length=128)
    cursor: str | None = Field(None, min_length=1, max_length=512)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class SearchSuggestPayload(LazyModel):
    model_config = ConfigDict(extra="ignore")

    query: str = Field(max_length=MAX_QUERY_PAYLOAD_CHARS)


# --- what the server sends (docs/protocol.md, "search.query"); `highlight` values are HTML ----


class SearchPerson(ServerPayload):
    userId: str
    displayName: str
    email: str | None
    avatar: str | None
    status: str | None


class SearchChannel(ServerPayload):
    channelId: str
    teamId: str | None
    name: str
    description: str | None
    type: Literal["dm", "group", "channel"]


class SearchFile(ServerPayload):
    fileId: str | None
    name: str
    chatId: str
    messageId: str
    senderId: str
    size: int | None
    mimeType: str | None
    url: str | None
    timestamp: str


class SearchMessage(ServerPayload):
    messageId: str
    chatId: str
    seq: int
    senderId: str
    senderName: str
    content: str
    timestamp: str


class PersonResult(ServerPayload):
    type: Literal["person"]
    score: float
    highlight: dict[Literal["displayName"], list[str]]
    person: SearchPerson


class ChannelResult(ServerPayload):
    type: Literal["channel"]
    score: float
    highlight: dict[Literal["name"], list[str]]
    channel: SearchChannel


class FileResult(ServerPayload):
    type: Literal["file"]
    score: float
    highlight: dict[Literal["name"], list[str]]
    file: SearchFile


class MessageResult(ServerPayload):
    type: Literal["message"]
    score: float
    highlight: dict[Literal["content"], list[str]]
    message: SearchMessage


class SearchResultsPayload(ServerPayload):
    refId: str
    results: list[PersonResult | ChannelResult | FileResult | MessageResult]
    total: int = Field(description="Every result of the query the caller may see")
    cursor: str | None = Field(description="The next page's cursor; null on the last page")


class PersonSuggestion(ServerPayload):
    type: Literal["person"]
    text: str
    highlight: str
    userId: str


class ChannelSuggestion(ServerPayload):
    type: Literal["channel"]
    text: str
    highlight: str
    chatId: str


class MessageSuggestion(ServerPayload):
    type: Literal["message"]
    text: str
    highlight: str
    messageId: str
    chatId: str
    senderName: str


class SearchSuggestionsPayload(ServerPayload):
    refId: str
    suggestions: list[PersonSuggestion | ChannelSuggestion | MessageSuggestion]
