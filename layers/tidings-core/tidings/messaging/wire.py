"""Messaging payloads (docs/protocol.md, "Messages"): what `message.*`, `typing.*` and `read.mark` carry."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, model_validator

from tidings.chats.membership_events import ChatUpdatedFrame, MemberJoinedFrame, MemberLeftFrame
from tidings.kernel.lazy_model import LazyModel
from tidings.kernel.wire import (
    Absent,
    AckOk,
    Identifier,
    Payload,
    ServerFrameEnvelope,
    ServerPayload,
    server_frame,
)
from tidings.messaging.emoji import emoji_problem
from tidings.messaging.history import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT
from tidings.messaging.message import Message
from tidings.notifications.wire import BadgePayload, ToastPayload

MAX_CONTENT_CHARS = 16_000
# The largest seq a client may name: JavaScript clients hold seqs as doubles, exact to 2^53 - 1,
# and anything larger (past 38 digits) is a number DynamoDB refuses in a key condition.
MAX_SEQ = 2**53 - 1
MAX_ATTACHMENTS = 10  # per message
# The largest seq sync accepts (`lastKnownSeq`, a cursor's position): DynamoDB numbers and every
# seq this server allocates fit far below it.
MAX_SYNC_SEQ = 2**63 - 1
# From this protocol version on (`hello`), a recipient's `message.new` carries its badge and toast
# instead of separate `notification.badge` and `notification.toast` frames after it.
NOTICES_IN_MESSAGE_NEW = 2


def _emoji(value: str) -> str:
    problem = emoji_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# pydantic itself refuses a lone surrogate (`"\ud800"`, which UTF-8 cannot carry) in a
# constrained string, so no text field needs its own check for one.
Content = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT_CHARS)]
Emoji = Annotated[str, AfterValidator(_emoji)]


class AttachmentRef(Payload):
    """An upload of the sender's to this chat, scanned clean (`POST /api/chats/{chatId}/attachments`)."""

    attachmentId: Identifier


def _distinct(refs: list[AttachmentRef]) -> list[AttachmentRef]:
    ids = [ref.attachmentId for ref in refs]
    if len(set(ids)) != len(ids):
        raise ValueError("must name each attachment once")
    return refs


class MessageSendPayload(Payload):
    chatId: Identifier
    content: Content
    replyTo: Identifier | None = None  # a message of the same chat (checked against storage)
    attachments: Annotated[list[AttachmentRef], AfterValidator(_distinct)] = Field(
        default_factory=list, max_length=MAX_ATTACHMENTS
    )
    priority: Literal["normal", "urgent"] = "normal"


class MessageEditPayload(Payload):
    messageId: Identifier
    content: Content


class MessageDeletePayload(Payload):
    messageId: Identifier


class MessageReactPayload(Payload):
    messageId: Identifier
    emoji: Emoji  # one to four emoji, nothing else (tidings.protocol.emoji)
    action: Literal["add", "remove"]


class ChatPayload(Payload):
    """`typing.start`, `typing.stop`."""

    chatId: Identifier


class ReadMarkPayload(Payload):
    chatId: Identifier
    messageId: Identifier


MAX_SYNC_LIMIT = 500


DEFAULT_SYNC_LIMIT = 100


MAX_SYNC_CHATS = 100


MAX_CURSOR_CHARS = 512


ChatId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


Seq = Annotated[int, Field(ge=0, le=MAX_SYNC_SEQ, strict=True)]


Cursor = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CURSOR_CHARS)]


class SyncRequestPayload(LazyModel):
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


class MessagesQuery(LazyModel):
    """`GET /api/chats/{chatId}/messages?before=SEQ&limit=N`; a bad value is a 400 naming the parameter."""

    model_config = ConfigDict(extra="ignore")

    before: int | None = Field(None, ge=1, le=MAX_SEQ)
    limit: int = Field(DEFAULT_PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT)


class ChatPath(LazyModel):
    chatId: str = Field(min_length=1, max_length=128)


# --- what the server sends -------------------------------------------------------------------


class WireAttachment(ServerPayload):
    """An attachment of a message (docs/protocol.md, "Attachments"): fetch it with
    `GET /api/attachments/{attachmentId}`."""

    attachmentId: str
    name: str
    size: int
    contentType: str
    status: Literal["clean"] = Field(description="Only clean uploads are sent")


class WireMessage(ServerPayload):
    """A message as it is now (edits and reactions applied; deleted: `content` null)."""

    messageId: str
    chatId: str
    seq: int = Field(description="The chat seq the message was created at")
    senderId: str
    senderName: str
    content: str | None
    replyTo: str | None
    attachments: list[WireAttachment]
    mentions: list[str] = Field(description="Mentioned user ids, and `@channel`/`@here` with their `@`")
    priority: Literal["normal", "urgent"]
    createdAt: str
    editedAt: str | None
    deleted: bool
    reactions: dict[str, list[str]] = Field(description="Each emoji and the users who reacted, in order")


class MessageEventPayload(ServerPayload):
    """`message.new` and `message.updated`."""

    chatId: str
    seq: int = Field(description="The event's chat seq")
    message: WireMessage


class MessageNewPayload(MessageEventPayload):
    """`message.new`; protocol v2 adds the recipient's own badge and toast (v1: separate frames)."""

    badge: BadgePayload | Absent = Field(
        None, description="Protocol v2: your counts for the chat, as `notification.badge` would carry them"
    )
    toast: ToastPayload | Absent = Field(
        None, description="Protocol v2: the alert to show, as `notification.toast` would carry it"
    )


class MessageDeletedPayload(ServerPayload):
    chatId: str
    seq: int
    messageId: str


class MessageReactionPayload(ServerPayload):
    chatId: str
    seq: int
    messageId: str
    reactions: dict[str, list[str]]


class TypingIndicatorPayload(ServerPayload):
    chatId: str
    userId: str
    displayName: str
    active: bool


class ChatSummaryPayload(ServerPayload):
    """A flooded big chat's messages in a number instead of one `message.new` each."""

    chatId: str
    newMessages: int = Field(description="Messages of the chat not sent to you one by one since the last frame")
    lastSeq: int = Field(description="The highest seq among them: sync.request the chat up to here")


class ReadReceiptPayload(ServerPayload):
    chatId: str
    userId: str
    messageId: str | None
    seq: int


class MessageSendAck(AckOk):
    message: WireMessage


class MessageEditAck(AckOk):
    chatId: str
    seq: int | None
    messageId: str
    message: WireMessage


class MessageDeleteAck(AckOk):
    chatId: str
    seq: int | None
    messageId: str


class MessageReactAck(AckOk):
    chatId: str
    seq: int | None = Field(description="null when the reaction changed nothing (no event)")
    messageId: str
    reactions: dict[str, list[str]]


class ReadMarkAck(AckOk):
    chatId: str
    messageId: str
    seq: int


class MessageNewFrame(ServerFrameEnvelope):
    type: Literal["message.new"]
    payload: MessageNewPayload


class MessageUpdatedFrame(ServerFrameEnvelope):
    type: Literal["message.updated"]
    payload: MessageEventPayload


class MessageDeletedFrame(ServerFrameEnvelope):
    type: Literal["message.deleted"]
    payload: MessageDeletedPayload


class MessageReactionFrame(ServerFrameEnvelope):
    type: Literal["message.reaction"]
    payload: MessageReactionPayload


ChatEventFrame = (
    MessageNewFrame
    | MessageUpdatedFrame
    | MessageDeletedFrame
    | MessageReactionFrame
    | MemberJoinedFrame
    | MemberLeftFrame
    | ChatUpdatedFrame
)


# Big chats list only some read watermarks: a channel of more than LISTED_READERS members, or any
# chat of more than FULL_WATERMARKS_MAX_MEMBERS (DMs and ordinary groups stay complete). They
# list the requester's own watermark and the LISTED_READERS highest others, and `readSummary`
# counts the members and those who have read up to `headSeq`.
LISTED_READERS = 50
FULL_WATERMARKS_MAX_MEMBERS = 256


class SyncReadSummary(ServerPayload):
    members: int = Field(description="How many members the chat has")
    readToHead: int = Field(description="How many of them have read up to headSeq")


READ_WATERMARKS_DESCRIPTION = (
    "Members' read watermarks (lastReadSeq, 0 = nothing read): every member's, but in a big chat "
    f"(with readSummary) only yours and those of the {LISTED_READERS} members furthest ahead"
)
READ_SUMMARY_DESCRIPTION = "Present only in a big chat, whose readWatermarks lists part of its members"


class SyncChatPayload(ServerPayload):
    chatId: str
    events: list[ChatEventFrame] = Field(
        description="The chat's events after the known seq, as the frames they were live, in seq order"
    )
    hasMore: bool
    cursor: str | None
    headSeq: int
    readWatermarks: dict[str, int] = Field(description=READ_WATERMARKS_DESCRIPTION)
    readSummary: SyncReadSummary | Absent = Field(default=None, description=READ_SUMMARY_DESCRIPTION)


class SyncTooLargePayload(ServerPayload):
    chatId: str
    tooLarge: Literal[True]
    headSeq: int
    readWatermarks: dict[str, int] = Field(description=READ_WATERMARKS_DESCRIPTION)
    readSummary: SyncReadSummary | Absent = Field(default=None, description=READ_SUMMARY_DESCRIPTION)


class SyncChatError(ServerPayload):
    code: str
    message: str


class SyncRefusedPayload(ServerPayload):
    chatId: str
    error: SyncChatError


class SyncChatResponse(SyncChatPayload):
    refId: str


class SyncTooLargeResponse(SyncTooLargePayload):
    refId: str


class SyncAllBadge(ServerPayload):
    chatId: str
    unreadCount: int
    mentionCount: int
    totalUnreadCount: int
    totalMentionCount: int


class SyncAllPresence(ServerPayload):
    userId: str
    status: str
    lastSeen: str | None = None


class SyncAllResponse(ServerPayload):
    refId: str
    chats: list[SyncChatPayload | SyncTooLargePayload | SyncRefusedPayload]
    badges: list[SyncAllBadge]
    presence: list[SyncAllPresence]
    presenceTruncated: Literal[True] | None = None


class MessagePageResponse(ServerPayload):
    """`GET /api/chats/{chatId}/messages`: newest first."""

    messages: list[WireMessage]
    nextBefore: int | None = Field(description="`before` for the next, older page; null on the last")


KINDS = ("message", "edit", "delete", "reaction")


def message_new(message: Message) -> dict[str, Any]:
    return event_frame("message", message.seq, message)


def carrying_notice(
    message_new: dict[str, Any], badge: dict[str, Any] | None, toast: dict[str, Any] | None
) -> dict[str, Any]:
    """`message_new` (a built frame) as a protocol v2 recipient gets it: with its badge and toast
    payloads (each already validated as its own frame's) in the payload."""
    notice = {name: value for name, value in (("badge", badge), ("toast", toast)) if value is not None}
    return {**message_new, "payload": {**message_new["payload"], **notice}} if notice else message_new


def event_frame(kind: str, seq: int, message: Message) -> dict[str, Any]:
    """The frame for the chat event of `kind` recorded at `seq` about `message` (with its trace id)."""
    chat_id, trace_id = message.chat_id, message.trace_id
    if kind == "message":
        payload: ServerPayload = MessageEventPayload(chatId=chat_id, seq=seq, message=_wire(message))
        return server_frame("message.new", payload, trace_id)
    if kind == "edit":
        payload = MessageEventPayload(chatId=chat_id, seq=seq, message=_wire(message))
        return server_frame("message.updated", payload, trace_id)
    if kind == "delete":
        payload = MessageDeletedPayload(chatId=chat_id, seq=seq, messageId=message.message_id)
        return server_frame("message.deleted", payload, trace_id)
    if kind == "reaction":
        payload = MessageReactionPayload(
            chatId=chat_id, seq=seq, messageId=message.message_id, reactions=message.reactions
        )
        return server_frame("message.reaction", payload, trace_id)
    raise ValueError(f"unknown chat event kind {kind!r}")


def _wire(message: Message) -> WireMessage:
    return WireMessage.model_validate(message.to_wire())
