"""`message.send` (docs/protocol.md, "Messages"): free of AWS event shapes.

Authorize, check the attachments, allocate the chat's next seq, write the message, its
idempotency claim and its attachments' "sent" mark in one transaction, and return the stored
message for the ack. Fan-out is not done here: it follows the stream."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tidings.kernel.errors import Forbidden, NotFound, Unavailable
from tidings.kernel.ratelimits import RateLimiter
from tidings.kernel.wire import iso
from tidings.messaging.declaration import MESSAGE_WRITES, URGENT
from tidings.messaging.idempotency import Claim, DuplicateRequest, original_of
from tidings.messaging.message import MAX_MENTION_CANDIDATES, Message, mention_candidates, resolve_mentions

if TYPE_CHECKING:
    from pynamodb.transactions import TransactWrite


@dataclass(frozen=True)
class SendMessage:
    """A `message.send` request. `request_id` is the client frame id (the idempotency key)."""

    request_id: str
    chat_id: str
    content: str
    reply_to: str | None = None
    attachment_ids: list[str] = field(default_factory=list)
    priority: str = "normal"
    trace_id: str | None = None  # not part of the fingerprint: a retry may mint another

    def fields(self) -> dict[str, Any]:
        """What the request asks for (its fingerprint), everything but the frame id."""
        return {
            "chatId": self.chat_id,
            "content": self.content,
            "replyTo": self.reply_to,
            "attachments": self.attachment_ids,
            "priority": self.priority,
        }


class MessageStore(Protocol):
    def members_among(self, chat_id: str, user_ids: set[str]) -> set[str]: ...

    def locate(self, message_id: str) -> tuple[str, int] | None:
        """The chat and seq of a message (any item that names it: the message came first)."""

    def allocate_seq(self, chat_id: str, *, new_message: bool = False) -> int:
        """The chat's next seq; a `new_message` is FORBIDDEN in an archived chat."""

    def append(self, message: Message, claim: Claim) -> None:
        """Writes the message, claims the key, marks its attachments sent with it and moves the
        sender's read watermark forward to the message (sending marks the chat read up to it),
        atomically; raises DuplicateRequest, or CONFLICT for an attachment sent meanwhile."""

    def get(self, chat_id: str, seq: int) -> Message | None: ...


class MessageAttachments(Protocol):
    """The attachments feature, as `message.send` uses it (composed by the handler)."""

    def for_message(self, sender_id: str, chat_id: str, attachment_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The attachments as the message carries them; raises NOT_FOUND (unknown, or someone
        else's), FORBIDDEN (another chat's) or CONFLICT (not scanned clean) naming the field.
        One already sent is left to the message's transaction, so that a retry is answered."""

    def keep(self, attachments: Sequence[dict[str, Any]]) -> None:
        """Takes the files out of the unsent uploads' expiry, before the message is written."""

    def mark_sent(
        self, transaction: TransactWrite, attachment_ids: Sequence[str], message_id: str, sender_id: str, chat_id: str
    ) -> None:
        """The store's part (`message_store.AttachmentMarks`), in the message's transaction."""

    def mark_deleted(self, transaction: TransactWrite, attachment_ids: Sequence[str]) -> None: ...

    def discard(self, attachment_ids: Sequence[str]) -> None: ...


class UserDirectory(Protocol):
    def display_name(self, user_id: str) -> str: ...


@dataclass(frozen=True)
class MessageService:
    store: MessageStore
    users: UserDirectory
    limiter: RateLimiter
    now: Callable[[], float]
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())
    attachments: MessageAttachments | None = None

    def send(self, sender_id: str, request: SendMessage) -> Message:
        self.limiter.enforce(MESSAGE_WRITES, sender_id)
        if request.priority == "urgent":
            self.limiter.enforce(URGENT, sender_id)
        candidates = mention_candidates(request.content)[:MAX_MENTION_CANDIDATES]
        members = self.store.members_among(request.chat_id, {sender_id, *candidates})
        if sender_id not in members:
            raise Forbidden(f"You are not a member of chat {request.chat_id!r}")
        if request.reply_to is not None:
            self._check_reply_target(request.chat_id, request.reply_to)
        attachments = self._attachments_of(sender_id, request)

        seq = self.store.allocate_seq(request.chat_id, new_message=True)
        if attachments and self.attachments is not None:
            self.attachments.keep(attachments)
        now = self.now()
        message = Message(
            message_id=self.new_id(),
            chat_id=request.chat_id,
            seq=seq,
            sender_id=sender_id,
            sender_name=self.users.display_name(sender_id),
            content=request.content,
            created_at=iso(now),
            reply_to=request.reply_to,
            attachments=attachments,
            mentions=resolve_mentions(candidates, members),
            priority=request.priority,
            trace_id=request.trace_id,
        )
        claim = Claim.of("message.send", request.chat_id, sender_id, request.request_id, request.fields(), now)
        try:
            self.store.append(message, claim)
        except DuplicateRequest as duplicate:
            # A retry: answer with the message the first attempt stored. Its seq is kept; the
            # seq this attempt allocated stays a hole, which the protocol allows (sync skips it).
            held = original_of(claim, duplicate)
            original = self.store.get(held.chat_id, held.seq) if held.seq is not None else None
            if original is None:  # the claim outlived its message: never expected
                raise
            return original
        return message

    def _attachments_of(self, sender_id: str, request: SendMessage) -> list[dict[str, Any]]:
        if not request.attachment_ids:
            return []
        if self.attachments is None:
            raise Unavailable("Attachments are not available on this deployment")
        return self.attachments.for_message(sender_id, request.chat_id, request.attachment_ids)

    def _check_reply_target(self, chat_id: str, reply_to: str) -> None:
        """A reply names a message of the same chat; a deleted one will do (it shows as a reply
        to a deleted message). Checked after membership, so a non-member learns nothing."""
        location = self.store.locate(reply_to)
        if location is None or location[0] != chat_id:
            raise NotFound(f"payload.replyTo: message {reply_to!r} is not in chat {chat_id!r}")
