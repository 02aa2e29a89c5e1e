"""Messages: the value objects and the `message.send` use case. Free of AWS event shapes.

The flow (ARCHITECTURE.md): authorize, allocate the chat's next seq, write the message and its
idempotency claim in one transaction, and return the stored message for the ack. Fan-out is not
done here: it follows the stream.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import quote

from tidings.kernel.errors import Conflict, Forbidden, NotFound
from tidings.kernel.ratelimits import MESSAGE_WRITES, URGENT, RateLimiter
from tidings.kernel.wire import iso

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

    def fields(self) -> dict[str, Any]:
        """What the request asks for (its fingerprint), everything but the frame id."""
        return {
            "chatId": self.chat_id,
            "content": self.content,
            "replyTo": self.reply_to,
            "attachments": self.attachments,
            "priority": self.priority,
        }


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


def idempotency_key(action: str, chat_id: str, sender_id: str, request_id: str) -> str:
    """Claims are per action, chat and sender: the same frame id from another user, or in another
    chat, is another request. Each part is percent-encoded so no id can forge another key."""
    return "#".join([action, *(quote(part, safe="") for part in (chat_id, sender_id, request_id))])


def fingerprint(fields: dict[str, Any]) -> str:
    """What a request asks for, as a SHA-256 of its canonical JSON: a retry has the same one, a
    different request that reuses the frame id does not."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Claim:
    """An idempotency claim, written in the same transaction as the request's effect."""

    key: str
    fingerprint: str
    expires_at: int  # epoch seconds

    @classmethod
    def of(
        cls, action: str, chat_id: str, sender_id: str, request_id: str, fields: dict[str, Any], now: float
    ) -> Claim:
        return cls(
            key=idempotency_key(action, chat_id, sender_id, request_id),
            fingerprint=fingerprint({"type": action, **fields}),
            expires_at=int(now + IDEMPOTENCY_WINDOW.total_seconds()),
        )


@dataclass(frozen=True)
class HeldClaim:
    """A live claim: where the original request's effect is (`seq` None when it changed nothing)."""

    chat_id: str
    seq: int | None
    fingerprint: str | None


class DuplicateRequest(Exception):
    """The idempotency key was already claimed, by the request described by `held`."""

    def __init__(self, held: HeldClaim) -> None:
        super().__init__(f"already processed as {held.chat_id}#{held.seq}")
        self.held = held


def original_of(claim: Claim, duplicate: DuplicateRequest) -> HeldClaim:
    """The held claim, when it is this very request again (a retry); CONFLICT when the sender
    reused the frame id for something else."""
    if duplicate.held.fingerprint != claim.fingerprint:
        raise Conflict("This frame id was already used for a different request; send a new request with a new id")
    return duplicate.held


class MessageStore(Protocol):
    def members_among(self, chat_id: str, user_ids: set[str]) -> set[str]: ...

    def locate(self, message_id: str) -> tuple[str, int] | None:
        """The chat and seq of a message (any item that names it: the message came first)."""

    def allocate_seq(self, chat_id: str) -> int: ...

    def append(self, message: Message, claim: Claim) -> None:
        """Writes the message, claims the key and moves the sender's read watermark forward to
        the message (sending marks the chat read up to it), atomically; raises DuplicateRequest."""

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
        if request.reply_to is not None:
            self._check_reply_target(request.chat_id, request.reply_to)

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
        claim = Claim.of("message.send", request.chat_id, sender_id, request.request_id, request.fields(), now)
        try:
            self._store.append(message, claim)
        except DuplicateRequest as duplicate:
            # A retry: answer with the message the first attempt stored. Its seq is kept; the
            # seq this attempt allocated stays a hole, which the protocol allows (§6).
            held = original_of(claim, duplicate)
            original = self._store.get(held.chat_id, held.seq) if held.seq is not None else None
            if original is None:  # the claim outlived its message: never expected
                raise
            return original
        return message

    def _check_reply_target(self, chat_id: str, reply_to: str) -> None:
        """A reply names a message of the same chat; a deleted one will do (it shows as a reply
        to a deleted message). Checked after membership, so a non-member learns nothing."""
        location = self._store.locate(reply_to)
        if location is None or location[0] != chat_id:
            raise NotFound(f"payload.replyTo: message {reply_to!r} is not in chat {chat_id!r}")
