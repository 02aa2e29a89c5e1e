"""The chats REST API on the wire (docs/protocol.md, "REST" and "Chats and members"): the chat
list, the requests that create and change chats and members, and the chats they answer with."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from tidings.chats.membership import ChatUpdate
from tidings.chats.models import MAX_RETENTION_DAYS
from tidings.kernel.lazy_model import LazyModel
from tidings.kernel.wire import ServerPayload, plain


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
    description: str | None
    visibility: Literal["public", "private"]
    archived: bool = Field(description="An archived chat keeps its history and takes no new messages")


# --- chats and members (docs/protocol.md, "Chats and members") ----------------------------------

# User and chat ids a client may name: what every route, key and frame can carry unescaped.
ENTITY_ID_PATTERN = r"^[A-Za-z0-9_.@:-]{1,128}$"
EntityId = Annotated[str, StringConstraints(pattern=ENTITY_ID_PATTERN)]
ChatName = Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(plain)]
Description = Annotated[str, StringConstraints(max_length=1000), AfterValidator(plain)]
# A group or channel is created with at most this many members; more are added one by one.
MAX_INITIAL_MEMBERS = 50


class _Request(LazyModel):
    """A REST request body: a field it does not know is a 400 naming it, never ignored."""

    model_config = ConfigDict(extra="forbid")


class CreateDm(_Request):
    type: Literal["dm"]
    members: list[EntityId] = Field(min_length=1, max_length=1, description="The other user, exactly one")


class CreateGroup(_Request):
    type: Literal["group", "channel"]
    name: ChatName
    members: list[EntityId] = Field(default_factory=list, max_length=MAX_INITIAL_MEMBERS)
    description: Description | None = None
    visibility: Literal["public", "private"] | None = Field(
        None, description="A channel defaults to public, a group is always private"
    )


CreateChat = Annotated[CreateDm | CreateGroup, Field(discriminator="type")]


class UpdateChat(_Request):
    name: ChatName | None = None
    description: Description | None = None
    archived: bool | None = Field(None, strict=True)
    retentionDays: int | None = Field(
        None,
        strict=True,
        ge=0,
        le=MAX_RETENTION_DAYS,
        description="Days a message is kept before the retention sweep deletes it; 0: the deployment's default",
    )

    def change(self) -> ChatUpdate:
        return ChatUpdate(self.name, self.description, self.archived, self.retentionDays)


class PutMember(_Request):
    role: Literal["member", "admin"] | None = Field(None, description="Absent: member when added, unchanged if there")


class ChannelsQuery(_Request):
    query: Annotated[str, StringConstraints(max_length=100)] = ""
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None


class ChatPathParameters(_Request):
    chatId: EntityId


class MemberPathParameters(_Request):
    chatId: EntityId
    userId: EntityId


class ChatWire(ServerPayload):
    """A chat's own fields (no member list, no badges of the reader)."""

    chatId: str
    type: Literal["dm", "group", "channel"]
    name: str | None
    description: str | None
    visibility: Literal["public", "private"]
    archived: bool
    retentionDays: int | None = Field(None, description="Days a message is kept; null: the deployment's default")


class ChatWithMembersWire(ChatWire):
    members: list[ChatMemberWire]
    headSeq: int


class ChatResponse(ServerPayload):
    chat: ChatWithMembersWire


class MemberResponse(ServerPayload):
    chatId: str
    userId: str
    role: Literal["admin", "member"]


class ChannelsPage(ServerPayload):
    channels: list[ChatWire]
    nextCursor: str | None
