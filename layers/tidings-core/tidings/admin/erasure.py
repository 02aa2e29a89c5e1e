"""A user's erasure (`DELETE /admin/users/{userId}`), free of AWS event shapes.

The API marks the user erasing (every token of theirs is refused from then on, and no session
is issued) and queues an `ErasureJob`; the erasure worker runs it stage by stage, each stage in
pages, and queues the rest of the work with a cursor (the stage and the last key it finished)
before its time runs out. Every step is idempotent against the state it finds, so a job that
dies mid-way and is redelivered, or a second job for the same user, finishes the erasure
without doing anything twice: a deleted message is not deleted again (no second event), a chat
the user has left is not left again.

The stages, in order:

1. `sessions`: the user's tokens and refresh tokens are revoked and their connections closed
   (@connections DELETE, so `$disconnect` runs).
2. `messages`: every message they sent is deleted through the normal delete path (a
   `message.deleted` chat event with its seq, which the members, sync and the search index
   follow), and removed from the search index at once.
3. `uploads`: their uploads no message holds (never sent, infected, or left behind by a
   delete whose clean-up failed) are deleted, file and item.
4. `reactions`: their reactions on other people's messages are removed (`message.reaction`).
5. `chats`: they leave every chat (`member.left`, the removal cut-off of a removed member).
6. `push`: their push subscriptions are deleted.
7. `presence`: their presence and presence subscriptions (both ways) are deleted.
8. `profile`: the user item becomes a tombstone (docs/protocol.md, "Erasing a user").

Each feature's part is a port here; the worker (`functions/admin/erasure_worker.py`) composes
them from the features' stores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, get_args

from tidings.kernel.delay_queue import json_codec
from tidings.kernel.observability import logger, metrics
from tidings.kernel.paging import Cursor

Stage = Literal["sessions", "messages", "uploads", "reactions", "chats", "push", "presence", "profile"]
STAGES: tuple[Stage, ...] = get_args(Stage)
ErasureState = Literal["erasing", "erased"]


@dataclass(frozen=True)
class ErasureJob:
    """Where an erasure is: the stage to run and the key its last finished page ended at."""

    user_id: str
    stage: Stage = STAGES[0]
    cursor: Cursor | None = None

    def to_body(self) -> dict[str, Any]:
        return {"userId": self.user_id, "stage": self.stage, "cursor": self.cursor}

    @classmethod
    def from_body(cls, body: Any) -> ErasureJob:
        stage = body["stage"]
        if not isinstance(body["userId"], str) or stage not in STAGES:
            raise ValueError(f"not an erasure job: {body!r}")
        cursor = body.get("cursor")
        if cursor is not None and not isinstance(cursor, dict):
            raise ValueError(f"not an erasure cursor: {cursor!r}")
        return cls(body["userId"], stage, cursor)


ERASURE_JOB_BODIES = json_codec(ErasureJob.to_body, ErasureJob.from_body)


# A page of keys, and the cursor of the next one (None: that was the last).
Page = tuple[Sequence[Any], Cursor | None]


class ErasureMarks(Protocol):
    """The erasure's state, on the user's item."""

    def state_of(self, user_id: str) -> ErasureState | None:
        """ "erasing", "erased", or None when the user is not being erased (or does not exist)."""

    def tombstone(self, user_id: str, at: float) -> None:
        """Strips the profile and what other features keep on the user (badges, preferences),
        keeping the revocation, and marks the user erased; only while it is being erased."""


class Sessions(Protocol):
    def revoke(self, user_id: str) -> int:
        """Revokes every token and refresh token and closes every connection of the user."""


class SentMessages(Protocol):
    def sent_by(self, user_id: str, cursor: Cursor | None, limit: int) -> Page:
        """A page of the messages the user sent: `(chatId, seq, messageId)` of each."""

    def erase(self, chat_id: str, seq: int) -> int | None:
        """Deletes the message through the delete path; its event's seq, None when it was
        deleted already (nothing written)."""

    def reacted_by(self, user_id: str, cursor: Cursor | None, limit: int) -> Page:
        """A page of the messages the user reacted to: `(chatId, seq)` of each."""

    def unreact(self, chat_id: str, seq: int, user_id: str) -> int:
        """Removes the user's reactions from the message (a reaction event each); how many."""


class Uploads(Protocol):
    def uploaded_by(self, user_id: str, cursor: Cursor | None, limit: int) -> Page:
        """A page of the ids of the user's uploads."""

    def erase_unsent(self, attachment_id: str) -> bool:
        """Deletes the upload's file and item unless a (not deleted) message holds it; False
        when it did nothing."""


class Memberships(Protocol):
    def memberships_of(self, user_id: str, cursor: Cursor | None, limit: int) -> Page:
        """A page of the ids of the chats the user is a member of."""

    def remove_erased_user(self, chat_id: str, user_id: str) -> bool:
        """Takes the user out of the chat as the platform; False when they were not in it."""


class PushSubscriptions(Protocol):
    def remove_all(self, user_id: str) -> int: ...


class PresenceRecords(Protocol):
    def forget(self, user_id: str) -> None: ...


class PresenceSubscriptions(Protocol):
    def end_all(self, user_id: str) -> None:
        """Ends the presence subscriptions of the user and to the user."""


@dataclass(frozen=True)
class ErasurePorts:
    marks: ErasureMarks
    sessions: Sessions
    messages: SentMessages
    remove_from_search: Callable[[Sequence[str]], None]  # message ids
    uploads: Uploads
    memberships: Memberships
    push: PushSubscriptions
    presence: PresenceRecords
    presence_subscriptions: PresenceSubscriptions


# Messages are deleted one transaction each: a page is a few seconds of work at most.
MESSAGE_PAGE = 25
CHAT_PAGE = 25
UPLOAD_PAGE = 25  # an S3 delete and two item calls each


@dataclass(frozen=True)
class ErasureService:
    ports: ErasurePorts
    now: Callable[[], float]

    def run(self, job: ErasureJob, has_time: Callable[[], bool]) -> ErasureJob | None:
        """Runs the job's steps while `has_time()`; returns the job of the rest (to queue), or
        None when the erasure is complete (or no longer wanted: the user is not erasing)."""
        if self.ports.marks.state_of(job.user_id) != "erasing":
            logger.info("erasure job for a user not being erased: dropped", extra={"userId": job.user_id})
            return None
        current: ErasureJob | None = job
        while current is not None:
            current = self._step(current)
            if current is not None and not has_time():
                logger.info("erasure continues in a new job", extra=current.to_body())
                return current
        return None

    def _step(self, job: ErasureJob) -> ErasureJob | None:
        """One page of the job's stage; the job that follows it, None after the last stage."""
        user_id = job.user_id
        if job.stage == "sessions":
            closed = self.ports.sessions.revoke(user_id)
            logger.info("erasure: sessions revoked", extra={"userId": user_id, "closed": closed})
        elif job.stage == "messages":
            return self._messages(job)
        elif job.stage == "uploads":
            return self._uploads(job)
        elif job.stage == "reactions":
            return self._reactions(job)
        elif job.stage == "chats":
            return self._chats(job)
        elif job.stage == "push":
            self.ports.push.remove_all(user_id)
        elif job.stage == "presence":
            self.ports.presence_subscriptions.end_all(user_id)
            self.ports.presence.forget(user_id)
        elif job.stage == "profile":
            self.ports.marks.tombstone(user_id, self.now())
            logger.info("user erased", extra={"userId": user_id})
            metrics.add_metric(name="UsersErased", unit="Count", value=1)
            return None
        return _next_stage(job)

    def _messages(self, job: ErasureJob) -> ErasureJob | None:
        messages, next_cursor = self.ports.messages.sent_by(job.user_id, job.cursor, MESSAGE_PAGE)
        erased = [seq for chat_id, seq, _ in messages if self.ports.messages.erase(chat_id, seq) is not None]
        # The index follows the delete events too; removing them here makes the erasure
        # complete without waiting for it (and covers a message whose event it missed).
        if messages:
            self.ports.remove_from_search([message_id for _, _, message_id in messages])
        metrics.add_metric(name="ErasedMessages", unit="Count", value=len(erased))
        return _next_page(job, next_cursor)

    def _uploads(self, job: ErasureJob) -> ErasureJob | None:
        attachment_ids, next_cursor = self.ports.uploads.uploaded_by(job.user_id, job.cursor, UPLOAD_PAGE)
        erased = [attachment_id for attachment_id in attachment_ids if self.ports.uploads.erase_unsent(attachment_id)]
        metrics.add_metric(name="ErasedUploads", unit="Count", value=len(erased))
        return _next_page(job, next_cursor)

    def _reactions(self, job: ErasureJob) -> ErasureJob | None:
        targets, next_cursor = self.ports.messages.reacted_by(job.user_id, job.cursor, MESSAGE_PAGE)
        removed = sum(self.ports.messages.unreact(chat_id, seq, job.user_id) for chat_id, seq in targets)
        metrics.add_metric(name="ErasedReactions", unit="Count", value=removed)
        return _next_page(job, next_cursor)

    def _chats(self, job: ErasureJob) -> ErasureJob | None:
        chat_ids, next_cursor = self.ports.memberships.memberships_of(job.user_id, job.cursor, CHAT_PAGE)
        left = [chat_id for chat_id in chat_ids if self.ports.memberships.remove_erased_user(chat_id, job.user_id)]
        metrics.add_metric(name="ErasedMemberships", unit="Count", value=len(left))
        return _next_page(job, next_cursor)


def _next_page(job: ErasureJob, next_cursor: Cursor | None) -> ErasureJob:
    return replace(job, cursor=next_cursor) if next_cursor is not None else _next_stage(job)


def _next_stage(job: ErasureJob) -> ErasureJob:
    return ErasureJob(job.user_id, STAGES[STAGES.index(job.stage) + 1])
