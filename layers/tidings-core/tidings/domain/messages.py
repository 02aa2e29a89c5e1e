"""Messages: the value objects and the `message.send` use case. Free of AWS event shapes.

The flow (ARCHITECTURE.md): authorize, allocate the chat's next seq, write the message and its
idempotency claim in one transaction, and return the stored message for the ack. Fan-out is not
done here: it follows the stream.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from tidings.domain.ratelimits import MESSAGE_WRITES, URGENT, RateLimiter
from tidings.errors import Forbidden
from tidings.protocol.frames import iso

IDEMPOTENCY_WINDOW = timedelta(hours=24)
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

    def to_wire(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "chatId": self.chat_id,
            "seq": self.seq,
            "senderId": self.sender_id,
            "senderName": self.sender_name,
            "content": self.content,
            "replyTo": self.reply_to,
            "attachments": self.attachments,
            "mentions": self.mentions,
            "priority": self.priority,
            "createdAt": self.created_at,
            "editedAt": self.edited_at,
            "deleted": self.deleted,
            "reactions": self.reactions,
        }


@dataclass(frozen=True)
class SendMessage:
    """A `message.send` request. `request_id` is the client frame id (the idempotency key)."""

    request_id: str
    chat_id: str
    content: str
    reply_to: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    priority: str = "normal"


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


def idempotency_key(action: str, chat_id: str, request_id: str) -> str:
    """Claims are per action and chat: the same frame id in another chat is another request."""
    return f"{action}#{chat_id}#{request_id}"


class DuplicateRequest(Exception):
    """The idempotency key was already claimed; the original effect is at (chat_id, seq)."""

    def __init__(self, chat_id: str, seq: int) -> None:
        super().__init__(f"already processed as {chat_id}#{seq}")
        self.chat_id = chat_id
        self.seq = seq


class MessageStore(Protocol):
    def members_among(self, chat_id: str, user_ids: set[str]) -> set[str]: ...

    def allocate_seq(self, chat_id: str) -> int: ...

    def append(self, message: Message, idempotency_key: str, claim_expires_at: int) -> None:
        """Writes the message and claims the key atomically; raises DuplicateRequest."""

    def get(self, chat_id: str, seq: int) -> Message | None: ...


class UserDirectory(Protocol):
    def display_name(self, user_id: str) -> str: ...


class MessageService:
    def __init__(
        self,
        store: MessageStore,
        users: UserDirectory,
        limiter: RateLimiter,
        now: Callable[[], float],
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._store = store
        self._users = users
        self._limiter = limiter
        self._now = now
        self._new_id = new_id

    def send(self, sender_id: str, request: SendMessage) -> Message:
        self._limiter.enforce(MESSAGE_WRITES, sender_id)
        if request.priority == "urgent":
            self._limiter.enforce(URGENT, sender_id)
        candidates = mention_candidates(request.content)[:MAX_MENTION_CANDIDATES]
        members = self._store.members_among(request.chat_id, {sender_id, *candidates})
        if sender_id not in members:
            raise Forbidden(f"You are not a member of chat {request.chat_id!r}")

        seq = self._store.allocate_seq(request.chat_id)
        now = self._now()
        message = Message(
            message_id=self._new_id(),
            chat_id=request.chat_id,
            seq=seq,
            sender_id=sender_id,
            sender_name=self._users.display_name(sender_id),
            content=request.content,
            created_at=iso(now),
            reply_to=request.reply_to,
            attachments=request.attachments,
            mentions=resolve_mentions(candidates, members),
            priority=request.priority,
        )
        key = idempotency_key("message.send", request.chat_id, request.request_id)
        try:
            self._store.append(message, key, int(now + IDEMPOTENCY_WINDOW.total_seconds()))
        except DuplicateRequest as duplicate:
            # A retry: answer with the message the first attempt stored. Its seq is kept; the
            # seq this attempt allocated stays a hole, which the protocol allows (§6).
            original = self._store.get(duplicate.chat_id, duplicate.seq)
            if original is None:  # the claim outlived its message: never expected
                raise
            return original
        return message
