"""The administration API's bodies, and the ids it accepts."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, field_validator, model_validator

from tidings.chats.wire import MAX_INITIAL_MEMBERS, ChatName, Description, EntityId
from tidings.kernel.errors import BadFrame
from tidings.kernel.lazy_model import LazyModel
from tidings.sessions.tokens import MAX_TOKEN_LIFETIME_SECONDS

# User ids (and chat ids): 1 to 128 of these, so an id is safe in a path, a log line and a key.
ID_PATTERN = re.compile(r"[A-Za-z0-9_.@:-]{1,128}")
ID_RULE = "1 to 128 characters of A-Z a-z 0-9 _ . @ : -"
MAX_DISPLAY_NAME_CHARS = 100
MAX_EMAIL_CHARS = 254  # RFC 5321's longest forward path, less its brackets
MAX_URL_CHARS = 2048
# Enough to catch a slip (a name in the email field), not a mail server's full grammar.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def user_id_of(value: str | None, field: str = "userId") -> str:
    """A user id from a path or a body, or a 400 naming the field."""
    if not is_valid_id(value):
        raise BadFrame(f"{field}: must be {ID_RULE}")
    return str(value)


class _Body(LazyModel):
    # Unknown fields are refused: a typo (`avatarURL`) must not be silently dropped.
    model_config = ConfigDict(extra="forbid")


class UserPut(_Body):
    """`PUT /admin/users/{userId}`: the whole profile; an optional field left out is cleared."""

    displayName: str = Field(min_length=1, max_length=MAX_DISPLAY_NAME_CHARS)
    email: str | None = Field(None, max_length=MAX_EMAIL_CHARS)
    avatarUrl: str | None = Field(None, max_length=MAX_URL_CHARS)

    @field_validator("displayName")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise ValueError("must be visible text, without control characters")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.fullmatch(value):
            raise ValueError("must be an email address (name@example.com)")
        return value

    @field_validator("avatarUrl")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        """https only: clients render it as an image source or a link, where `javascript:` or
        `data:` would run or smuggle content, and plain http would leak who looks at whom."""
        if value is None:
            return None
        try:
            parts = urlsplit(value)
        except ValueError:
            raise ValueError("must be an https:// URL") from None
        if parts.scheme != "https" or not parts.hostname or any(c.isspace() or ord(c) < 0x20 for c in value):
            raise ValueError("must be an https:// URL")
        return value


class SessionRequest(_Body):
    """`POST /admin/sessions`."""

    userId: str
    ttlSeconds: int | None = Field(None, strict=True, ge=1, le=MAX_TOKEN_LIFETIME_SECONDS)

    @field_validator("userId")
    @classmethod
    def _user_id(cls, value: str) -> str:
        if not is_valid_id(value):
            raise ValueError(f"must be {ID_RULE}")
        return value


class AdminCreateDm(_Body):
    """`POST /admin/chats` for a DM: the pair's one DM (its id is the pair's: no `chatId`)."""

    type: Literal["dm"]
    members: list[EntityId] = Field(min_length=2, max_length=2, description="The pair, exactly two users")


class AdminCreateGroup(_Body):
    """`POST /admin/chats` for a group or a channel: `admins` are its admins (members too),
    `members` the others; a chat the platform creates may have no admin."""

    type: Literal["group", "channel"]
    chatId: EntityId | None = Field(None, description="Taken: 409. Absent: a new random id")
    name: ChatName
    members: list[EntityId] = Field(max_length=MAX_INITIAL_MEMBERS)
    admins: list[EntityId] = Field(default_factory=list, max_length=MAX_INITIAL_MEMBERS)
    description: Description | None = None
    visibility: Literal["public", "private"] | None = Field(
        None, description="A channel defaults to public, a group is always private"
    )

    @model_validator(mode="after")
    def _bounded(self) -> AdminCreateGroup:
        # Everyone is written in the creating transaction, which DynamoDB bounds.
        if len({*self.members, *self.admins}) > MAX_INITIAL_MEMBERS:
            raise ValueError(f"members: at most {MAX_INITIAL_MEMBERS} users, admins included; add more one by one")
        return self


AdminCreateChat = Annotated[AdminCreateDm | AdminCreateGroup, Field(discriminator="type")]


# --- responses (the documented shapes; `docs/openapi.yaml` is written from them) --------------


class _Answer(LazyModel):
    model_config = ConfigDict(extra="forbid")


class UserPath(_Answer):
    userId: str = Field(pattern=ID_PATTERN.pattern, description=ID_RULE)


class UserWire(_Answer):
    userId: str
    displayName: str
    email: str | None = Field(None, description="Absent when not set")
    avatarUrl: str | None = Field(None, description="Absent when not set; always https")


class UserResponse(_Answer):
    user: UserWire
    erasure: Literal["running"] | None = Field(
        None, description="Present while the user is being erased (`DELETE /admin/users/{userId}`)"
    )


class ErasureResponse(_Answer):
    """`DELETE /admin/users/{userId}` (202): the erasure runs in the background and is done
    when `GET /admin/users/{userId}` answers 404."""

    userId: str
    erasure: Literal["started", "running", "completed"] = Field(
        description="started: by this request; running: already, and queued again; completed: nothing left to erase"
    )


class SessionResponse(_Answer):
    token: str = Field(description="The access token (HS256 JWT), for the WebSocket and the REST API")
    refreshToken: str = Field(description="For POST /api/auth/refresh; rotates on every use")
    expiresAt: str = Field(description="When the access token expires, ISO 8601 UTC")


class ExportedMembership(_Answer):
    chatId: str
    type: str | None
    name: str | None
    role: str
    joinedAt: str
    lastReadSeq: int = Field(description="The read watermark")
    lastReadMessageId: str | None
    unreadCount: int
    mentionCount: int


class ExportedMessage(_Answer):
    chatId: str
    seq: int
    messageId: str
    content: str | None = Field(description="null once deleted")
    createdAt: str
    editedAt: str | None
    deleted: bool
    replyTo: str | None
    attachments: list[dict[str, Any]]
    mentions: list[str]
    priority: str


class ExportedReaction(_Answer):
    chatId: str
    messageId: str
    emoji: str
    at: str


class ExportedPushSubscription(_Answer):
    subscriptionId: str
    platform: str
    createdAt: str
    endpoint: str | None = None
    deviceToken: str | None = None


class ExportedBadges(_Answer):
    unread: int
    mentions: int


class UserExport(_Answer):
    """`GET /admin/users/{userId}/export`: everything stored about the user."""

    user: UserWire
    memberships: list[ExportedMembership]
    messages: list[ExportedMessage] = Field(description="What the user wrote, oldest first, as it stands now")
    reactions: list[ExportedReaction] = Field(description="The reactions the user holds now")
    preferences: dict[str, Any] | None = Field(description="As stored; null means the defaults")
    badges: ExportedBadges
    pushSubscriptions: list[ExportedPushSubscription]
    exportedAt: str
