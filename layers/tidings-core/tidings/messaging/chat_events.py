"""Edit, delete and react: each change to a message is a chat event with the
chat's next seq, written in one transaction with the change and its idempotency claim.

Only the sender edits; the sender or a chat admin deletes; any member reacts. A delete erases
the content from storage. A duplicate reaction add (or a remove of a missing one) changes
nothing and emits no event, but still claims its frame id, so a retry gets the same answer and
a reuse of the id for another request is a CONFLICT like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from tidings.kernel.errors import Forbidden, NotFound
from tidings.kernel.paging import Cursor
from tidings.kernel.ratelimits import RateLimiter
from tidings.kernel.wire import iso
from tidings.messaging.declaration import MESSAGE_WRITES
from tidings.messaging.idempotency import Claim, DuplicateRequest, HeldClaim, original_of
from tidings.messaging.message import MAX_MENTION_CANDIDATES, Message, mention_candidates, resolve_mentions
from tidings.messaging.sending import UserDirectory

EventKind = Literal["edit", "delete", "reaction"]
ReactionAction = Literal["add", "remove"]


@dataclass(frozen=True)
class ChatEvent:
    """A change to message `target_seq` of `chat_id`, recorded at `seq`."""

    kind: EventKind
    chat_id: str
    seq: int
    message_id: str
    target_seq: int
    actor_id: str
    actor_name: str
    at: str
    # The message's own: an edit, delete or reaction is followed as part of its message's trace.
    trace_id: str | None = None


@dataclass(frozen=True)
class EventOutcome:
    """What the ack reports: the event's seq (None when nothing changed) and the message now."""

    seq: int | None
    message: Message


class MessageGone(Exception):
    """The message was deleted, or never existed, by the time the change was written."""


class NoChange(Exception):
    """The reaction was already there (add) or already absent (remove)."""


class ChatEventStore(Protocol):
    def locate(self, message_id: str) -> tuple[str, int] | None: ...

    def get(self, chat_id: str, seq: int) -> Message | None: ...

    def role_of(self, chat_id: str, user_id: str) -> str | None: ...

    def members_among(self, chat_id: str, user_ids: set[str]) -> set[str]: ...

    def allocate_seq(self, chat_id: str) -> int: ...

    def record_edit(self, event: ChatEvent, content: str, mentions: list[str], claim: Claim) -> None: ...

    def record_delete(self, event: ChatEvent, claim: Claim) -> None: ...

    def record_reaction(self, event: ChatEvent, emoji: str, action: ReactionAction, claim: Claim) -> None:
        """Raises NoChange when the reaction is already in the asked state."""

    def record_no_change(self, claim: Claim, chat_id: str) -> None:
        """Claims the key for a request that changed nothing; raises DuplicateRequest."""

    def held_claim(self, key: str) -> HeldClaim | None:
        """The live claim on `key`, if any."""


@dataclass(frozen=True)
class ChatEventService:
    store: ChatEventStore
    users: UserDirectory
    limiter: RateLimiter
    now: Callable[[], float]

    def edit(self, actor_id: str, request_id: str, message_id: str, content: str) -> EventOutcome:
        message, _ = self._writable(actor_id, message_id)
        if message.sender_id != actor_id:
            raise Forbidden("Only the sender may edit a message")
        claim = self._claim("message.edit", actor_id, request_id, message, {"content": content})
        candidates = mention_candidates(content)[:MAX_MENTION_CANDIDATES]
        mentions = resolve_mentions(candidates, self.store.members_among(message.chat_id, set(candidates)))
        return self._record(
            "edit",
            actor_id,
            message,
            claim,
            lambda event: self.store.record_edit(event, content, mentions, claim),
        )

    def delete(self, actor_id: str, request_id: str, message_id: str) -> EventOutcome:
        message, role = self._writable(actor_id, message_id)
        if message.sender_id != actor_id and role != "admin":
            raise Forbidden("Only the sender or a chat admin may delete a message")
        claim = self._claim("message.delete", actor_id, request_id, message, {})
        return self._record("delete", actor_id, message, claim, lambda event: self.store.record_delete(event, claim))

    def react(
        self, actor_id: str, request_id: str, message_id: str, emoji: str, action: ReactionAction
    ) -> EventOutcome:
        message, _ = self._writable(actor_id, message_id)
        claim = self._claim("message.react", actor_id, request_id, message, {"emoji": emoji, "action": action})
        try:
            return self._record(
                "reaction",
                actor_id,
                message,
                claim,
                lambda event: self.store.record_reaction(event, emoji, action, claim),
            )
        except NoChange:
            try:
                self.store.record_no_change(claim, message.chat_id)
            except DuplicateRequest as duplicate:
                return self._replay(claim, duplicate, message)
            return EventOutcome(seq=None, message=self._current(message.chat_id, message.seq))

    def _writable(self, actor_id: str, message_id: str) -> tuple[Message, str]:
        """The message, if it exists and the actor may see it; with the actor's role in its chat
        (read once, for the delete's admin check too). A deleted message is returned too: a
        retry of the request that deleted it (or of one before) still gets its ack."""
        self.limiter.enforce(MESSAGE_WRITES, actor_id)
        location = self.store.locate(message_id)
        message = self.store.get(*location) if location else None
        if message is None:
            raise NotFound(f"Message {message_id!r} does not exist")
        role = self.store.role_of(message.chat_id, actor_id)
        if role is None:
            raise Forbidden(f"You are not a member of chat {message.chat_id!r}")
        return message, role

    def _claim(self, action: str, actor_id: str, request_id: str, message: Message, fields: dict[str, Any]) -> Claim:
        return Claim.of(
            action, message.chat_id, actor_id, request_id, {"messageId": message.message_id, **fields}, self.now()
        )

    def _record(
        self,
        kind: EventKind,
        actor_id: str,
        message: Message,
        claim: Claim,
        write: Callable[[ChatEvent], None],
    ) -> EventOutcome:
        if message.deleted:
            # Nothing can change a deleted message; only a retry of an earlier request has an ack.
            held = self.store.held_claim(claim.key)
            if held is None:
                raise NotFound(f"Message {message.message_id!r} was deleted")
            return self._replay(claim, DuplicateRequest(held), message)
        event = _event_on(
            kind,
            message,
            self.store.allocate_seq(message.chat_id),
            actor_id,
            self.users.display_name(actor_id),
            self.now(),
        )
        try:
            write(event)
        except DuplicateRequest as duplicate:
            return self._replay(claim, duplicate, message)
        except MessageGone:
            raise NotFound(f"Message {message.message_id!r} was deleted") from None
        return EventOutcome(seq=event.seq, message=self._current(message.chat_id, message.seq))

    def _replay(self, claim: Claim, duplicate: DuplicateRequest, message: Message) -> EventOutcome:
        """A retry of a change that was already made (or already found unneeded): the same seq,
        the message as it is now."""
        held = original_of(claim, duplicate)
        return EventOutcome(seq=held.seq, message=self._current(message.chat_id, message.seq))

    def _current(self, chat_id: str, seq: int) -> Message:
        message = self.store.get(chat_id, seq)
        if message is None:  # messages are never removed, only erased
            raise NotFound("The message no longer exists")
        return message


def _event_on(kind: EventKind, message: Message, seq: int, actor_id: str, actor_name: str, now: float) -> ChatEvent:
    return ChatEvent(
        kind=kind,
        chat_id=message.chat_id,
        seq=seq,
        message_id=message.message_id,
        target_seq=message.seq,
        actor_id=actor_id,
        actor_name=actor_name,
        at=iso(now),
        trace_id=message.trace_id,
    )


class SentMessages(ChatEventStore, Protocol):
    def record_delete(self, event: ChatEvent, claim: Claim, *, sender_name: str | None = None) -> None:
        """As `ChatEventStore.record_delete`; `sender_name` replaces the message's."""

    def sent_by(self, user_id: str, cursor: Cursor | None, limit: int) -> tuple[list[Message], Cursor | None]:
        """A page of the messages (not other events) the user sent, oldest first, and the
        cursor of the next page (None after the last)."""

    def reacted_by(
        self, user_id: str, cursor: Cursor | None, limit: int
    ) -> tuple[list[tuple[str, int]], Cursor | None]:
        """A page of `(chatId, seq)` of the messages the user reacted to, and the next cursor."""


@dataclass(frozen=True)
class MessageErasure:
    """A user's messages, deleted for their erasure (the administration API): each one through
    the store's delete and its `delete` chat event, exactly as a delete by its sender, recorded
    as made by `actor_id` (the platform). No membership check (the user may have left the chat
    long ago) and no rate limit; the tombstone keeps the sender's id, not their name. A deleted
    message is left as it is (no second event), and the claim's request id is the message's
    own, so two erasures racing on one message (a redelivered job beside its continuation)
    write one event."""

    store: SentMessages
    actor_id: str
    actor_name: str
    now: Callable[[], float]

    def sent_by(
        self, user_id: str, cursor: Cursor | None, limit: int
    ) -> tuple[list[tuple[str, int, str]], Cursor | None]:
        """A page of `(chatId, seq, messageId)` of the messages the user sent, and the next cursor."""
        messages, next_cursor = self.store.sent_by(user_id, cursor, limit)
        return [(m.chat_id, m.seq, m.message_id) for m in messages], next_cursor

    def erase(self, chat_id: str, seq: int) -> int | None:
        """The delete event's seq; None when the message was deleted already (or is gone).
        The tombstone shows the sender's id instead of their name, as for an unknown user."""
        return self._delete(chat_id, seq, "erasure", forget_sender=True)

    def expire(self, chat_id: str, seq: int) -> int | None:
        """The same delete for the retention sweep (`tidings.messaging.retention`): the
        tombstone keeps its sender's name, as a delete by the sender does."""
        return self._delete(chat_id, seq, "retention", forget_sender=False)

    def _delete(self, chat_id: str, seq: int, reason: str, *, forget_sender: bool) -> int | None:
        message = self.store.get(chat_id, seq)
        if message is None or message.deleted:
            return None
        now = self.now()
        claim = Claim.of(
            "message.delete",
            chat_id,
            self.actor_id,
            f"{reason}:{message.message_id}",
            {"messageId": message.message_id},
            now,
        )
        event = _event_on("delete", message, self.store.allocate_seq(chat_id), self.actor_id, self.actor_name, now)
        try:
            self.store.record_delete(event, claim, sender_name=message.sender_id if forget_sender else None)
        except (DuplicateRequest, MessageGone):
            return None  # deleted meanwhile, by the sender or by another sweep or erasure
        return event.seq

    def reacted_by(
        self, user_id: str, cursor: Cursor | None, limit: int
    ) -> tuple[list[tuple[str, int]], Cursor | None]:
        return self.store.reacted_by(user_id, cursor, limit)

    def unreact(self, chat_id: str, seq: int, user_id: str) -> int:
        """Removes the user's reactions from the message, each a `reaction` chat event as the
        user's own removal would be (the reaction is theirs: the event is recorded as theirs,
        named by their id); how many there were. One the user no longer holds is skipped."""
        message = self.store.get(chat_id, seq)
        if message is None or message.deleted:
            return 0
        removed = 0
        for emoji in [emoji for emoji, users in message.reactions.items() if user_id in users]:
            now = self.now()
            fields = {"messageId": message.message_id, "emoji": emoji, "action": "remove"}
            claim = Claim.of("message.react", chat_id, user_id, f"erasure:{message.message_id}:{emoji}", fields, now)
            event = _event_on("reaction", message, self.store.allocate_seq(chat_id), user_id, user_id, now)
            try:
                self.store.record_reaction(event, emoji, "remove", claim)
            except (NoChange, DuplicateRequest, MessageGone):
                continue  # removed meanwhile, by the user or by the other erasure
            removed += 1
        return removed
