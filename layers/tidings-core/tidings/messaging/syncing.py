"""Sync: replays the chat events a client missed, in seq order.

The Messages table is the chat's event log, so one chat's missed events are one Query
(`seq > after`) plus one BatchGetItem of the messages that edit, delete and reaction events
name. Each event is rendered as the server frame fan-out sent for it, with the message as it
is now (`tidings.messaging.wire.event_frame`), so a client that applies them in order converges.

Per chat, in this order:
1. the chat's members (one Query) give both the membership check and `readWatermarks`: a
   non-member, or a chat that does not exist, is FORBIDDEN (and learns nothing, not even
   `headSeq`). A big chat's watermarks are cut to its readers furthest ahead, with a summary
   (`readers`: big channels would otherwise make every sync as large as their member list);
2. `headSeq - after > MAX_MISSED_EVENTS` is `tooLarge`: the client refetches over REST;
3. otherwise the events after `after`, at most `limit`, and at most what fits one API Gateway
   WebSocket message (`RESPONSE_BUDGET_BYTES`). `hasMore` with an opaque `cursor` says there is
   more to fetch.

`headSeq` is read (consistently) before the events. An event whose seq was allocated but whose
item is not written yet when the Query runs is not in the response; it reaches the client by
fan-out, which is why the recipe is "connect, then sync" (docs/protocol.md).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tidings.chats.membership_events import ChatChange, change_frame
from tidings.kernel.errors import BadFrame, Forbidden, TidingsError
from tidings.kernel.ratelimits import RateLimiter
from tidings.kernel.wire import camel_fields, encode
from tidings.messaging.declaration import SYNC_REQUESTS
from tidings.messaging.message import Message
from tidings.messaging.wire import FULL_WATERMARKS_MAX_MEMBERS, LISTED_READERS, MAX_SYNC_SEQ, event_frame

MAX_MISSED_EVENTS = 500
# API Gateway's WebSocket message limit is 128 KiB; the envelope (refId, id, timestamp) stays
# well inside what this leaves. Everything else of a response counts against the budget: the
# events, each chat's fields, and a multi-chat response's badges and presence.
RESPONSE_BUDGET_BYTES = 120 * 1024
# A multi-chat response's presence takes at most this much of the budget, so the events always
# have room; the entries beyond it are left out and the response says `presenceTruncated`.
PRESENCE_BUDGET_BYTES = 24 * 1024


@dataclass(frozen=True)
class ChatHead:
    """What sync reads of a chat before its members: its seq counter and its type."""

    head_seq: int
    chat_type: str


@dataclass(frozen=True)
class ReadSummary:
    """A big chat's readers in numbers, for the members its `readWatermarks` leaves out."""

    members: int
    read_to_head: int  # members whose watermark is at headSeq

    def to_wire(self) -> dict[str, int]:
        return camel_fields(self)


def readers(
    watermarks: Mapping[str, int], user_id: str, head: ChatHead
) -> tuple[dict[str, int], dict[str, int] | None]:
    """The watermarks a sync response lists, and its `readSummary` (None: every member listed)."""
    big = len(watermarks) > (LISTED_READERS if head.chat_type == "channel" else FULL_WATERMARKS_MAX_MEMBERS)
    if not big:
        return dict(watermarks), None
    furthest = sorted((item for item in watermarks.items() if item[0] != user_id), key=lambda i: (-i[1], i[0]))
    listed = {user_id: watermarks[user_id], **dict(furthest[:LISTED_READERS])}
    summary = ReadSummary(len(watermarks), sum(1 for seq in watermarks.values() if seq >= head.head_seq))
    return listed, summary.to_wire()


@dataclass(frozen=True)
class StoredEvent:
    """A chat event read from the log: its kind and seq, and the message it is about, now; or,
    for a membership or chat event, what it changed."""

    kind: str
    seq: int
    message: Message | None
    change: ChatChange | None = None

    def frame(self) -> dict[str, Any] | None:
        """The frame fan-out sent for this event (None for a kind with no frame)."""
        if self.change is not None:
            return change_frame(self.change)
        assert self.message is not None  # a message event always has its message
        return event_frame(self.kind, self.seq, self.message)


@dataclass(frozen=True)
class EventPage:
    """Events after a seq, ascending. `last_seq` is the seq of the last item read (events the
    store skipped, such as kinds this code does not know, count), None when none was read."""

    events: list[StoredEvent]
    has_more: bool
    last_seq: int | None


class SyncStore(Protocol):
    def heads(self, chat_ids: Sequence[str]) -> dict[str, ChatHead]:
        """`headSeq` and type of each chat that exists (read consistently); missing chats are absent."""

    def read_watermarks(self, chat_id: str) -> dict[str, int]:
        """`{userId: lastReadSeq}` of every member of the chat."""

    def events_after(self, chat_id: str, after_seq: int, limit: int) -> EventPage:
        """At most `limit` events with seq > after_seq, ascending, with their messages."""


# --- cursors ------------------------------------------------------------------------------


def encode_cursor(chat_id: str, after_seq: int) -> str:
    """An opaque position: "the events of `chat_id` after `after_seq`"."""
    raw = json.dumps({"c": chat_id, "s": after_seq}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(chat_id: str, cursor: str) -> int:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        cursor_chat, after_seq = raw["c"], raw["s"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise BadFrame("cursor is not a cursor this server gave out") from None
    if cursor_chat != chat_id:
        raise BadFrame(f"cursor does not belong to chat {chat_id!r}")
    # `bool` is an `int` in Python: `"s": true` is not a position.
    if type(after_seq) is not int or not 0 <= after_seq <= MAX_SYNC_SEQ:
        raise BadFrame("cursor is not a cursor this server gave out")
    return after_seq


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatSync:
    chat_id: str
    events: list[dict[str, Any]]
    has_more: bool
    cursor: str | None
    head_seq: int
    read_watermarks: dict[str, int]
    read_summary: dict[str, int] | None = None  # a big chat's; its watermarks are then a part

    def to_wire(self) -> dict[str, Any]:
        return _without_absent_summary(camel_fields(self))


@dataclass(frozen=True)
class ChatTooLarge:
    """More than MAX_MISSED_EVENTS missed: no events; refetch with GET /api/chats/{id}/messages."""

    chat_id: str
    head_seq: int
    read_watermarks: dict[str, int]
    read_summary: dict[str, int] | None = None

    def to_wire(self) -> dict[str, Any]:
        return {**_without_absent_summary(camel_fields(self)), "tooLarge": True}


def _without_absent_summary(wire: dict[str, Any]) -> dict[str, Any]:
    if wire.get("readSummary") is None:
        wire.pop("readSummary", None)
    return wire


@dataclass(frozen=True)
class ChatRefused:
    """One chat of a multi-chat sync that could not be synced; the others still are."""

    chat_id: str
    error: TidingsError

    def to_wire(self) -> dict[str, Any]:
        return {"chatId": self.chat_id, "error": {"code": self.error.code.value, "message": self.error.message}}


ChatResult = ChatSync | ChatTooLarge | ChatRefused


@dataclass(frozen=True)
class AllChatsSync:
    """The multi-chat `sync.response`: every chat asked, the user's badges of them, and the
    presence of the users they subscribed to, as much as fits (`presence_truncated` otherwise)."""

    chats: list[ChatResult]
    badges: list[dict[str, Any]]
    presence: list[dict[str, Any]]
    presence_truncated: bool = False

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "chats": [chat.to_wire() for chat in self.chats],
            "badges": self.badges,
            "presence": self.presence,
        }
        if self.presence_truncated:
            wire["presenceTruncated"] = True
        return wire


def fit(entries: Sequence[dict[str, Any]], budget_bytes: int) -> list[dict[str, Any]]:
    """The longest prefix of `entries` whose JSON fits `budget_bytes`."""
    fitted: list[dict[str, Any]] = []
    left = budget_bytes
    for entry in entries:
        size = _size(entry) + 1  # the comma
        if size > left:
            break
        fitted.append(entry)
        left -= size
    return fitted


@dataclass
class _Budget:
    """Bytes left for the whole response, shared by every chat in it."""

    left: int
    spent_any: bool = field(default=False)

    def take(self, size: int) -> bool:
        # The first event of a response always goes in, so a client always makes progress.
        if size > self.left and self.spent_any:
            return False
        self.left -= size
        self.spent_any = True
        return True


def _size(value: Any) -> int:
    return len(encode(value).encode("utf-8"))


# --- the service --------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncService:
    store: SyncStore
    budget_bytes: int = RESPONSE_BUDGET_BYTES
    rate_limiter: RateLimiter | None = None

    def _enforce_rate_limit(self, user_id: str) -> None:
        """One token per `sync.request` (RATE_LIMITED beyond the SYNC rule)."""
        if self.rate_limiter is not None:
            self.rate_limiter.enforce(SYNC_REQUESTS, user_id)

    def sync_chat(
        self, user_id: str, chat_id: str, last_known_seq: int | None, cursor: str | None, limit: int
    ) -> ChatSync | ChatTooLarge:
        """One chat. A cursor, when given, replaces `last_known_seq`. Raises Forbidden/BadFrame."""
        self._enforce_rate_limit(user_id)
        after = decode_cursor(chat_id, cursor) if cursor is not None else last_known_seq
        if after is None:
            raise BadFrame("lastKnownSeq or cursor is required")
        result = self._sync(user_id, [(chat_id, after)], limit)[0]
        if isinstance(result, ChatRefused):
            raise result.error
        return result

    def sync_all(
        self,
        user_id: str,
        positions: Mapping[str, int | str],
        limit: int,
        badges: Sequence[dict[str, Any]],
        presence: Sequence[dict[str, Any]],
    ) -> AllChatsSync:
        """`sync_chats` with the response's badges and presence, all inside one budget: the
        badges (one per chat asked, at most MAX_SYNC_CHATS) always go in, presence takes up to
        PRESENCE_BUDGET_BYTES, and the events get what is left."""
        self._enforce_rate_limit(user_id)
        fitted = fit(presence, PRESENCE_BUDGET_BYTES)
        reserved = _size(list(badges)) + _size(fitted)
        chats = self.sync_chats(user_id, positions, limit, budget_bytes=self.budget_bytes - reserved)
        return AllChatsSync(chats, list(badges), fitted, presence_truncated=len(fitted) < len(presence))

    def sync_chats(
        self, user_id: str, positions: Mapping[str, int | str], limit: int, budget_bytes: int | None = None
    ) -> list[ChatResult]:
        """Several chats, each from its lastKnownSeq (an int) or cursor (a string), in the
        order given. A chat that cannot be synced gets a ChatRefused; the others are synced."""
        wanted: list[tuple[str, int]] = []
        refused: dict[str, ChatRefused] = {}
        for chat_id, position in positions.items():
            if isinstance(position, str):
                try:
                    wanted.append((chat_id, decode_cursor(chat_id, position)))
                except BadFrame as exc:
                    refused[chat_id] = ChatRefused(chat_id, exc)
            else:
                wanted.append((chat_id, position))
        budget = _Budget(self.budget_bytes if budget_bytes is None else budget_bytes)
        for refusal in refused.values():
            budget.left -= _size(refusal.to_wire())
        synced = {result.chat_id: result for result in self._sync(user_id, wanted, limit, budget)}
        return [refused.get(chat_id) or synced[chat_id] for chat_id in positions]

    def _sync(
        self, user_id: str, wanted: Sequence[tuple[str, int]], limit: int, budget: _Budget | None = None
    ) -> list[ChatResult]:
        heads = self.store.heads([chat_id for chat_id, _ in wanted]) if wanted else {}
        budget = budget or _Budget(self.budget_bytes)
        results: list[ChatResult] = []
        for chat_id, after in wanted:
            watermarks = self.store.read_watermarks(chat_id) if chat_id in heads else {}
            result: ChatResult
            if user_id not in watermarks:
                result = ChatRefused(chat_id, Forbidden(f"You are not a member of chat {chat_id!r}"))
                budget.left -= _size(result.to_wire())
                results.append(result)
                continue
            head = heads[chat_id]
            listed, summary = readers(watermarks, user_id, head)
            if head.head_seq - after > MAX_MISSED_EVENTS:
                result = ChatTooLarge(chat_id, head.head_seq, listed, summary)
            else:
                results.append(self._events(chat_id, after, limit, head.head_seq, (listed, summary), budget))
                continue
            budget.left -= _size(result.to_wire())
            results.append(result)
        return results

    def _events(
        self,
        chat_id: str,
        after: int,
        limit: int,
        head_seq: int,
        read: tuple[dict[str, int], dict[str, int] | None],
        budget: _Budget,
    ) -> ChatSync:
        watermarks, summary = read
        empty = ChatSync(chat_id, [], False, None, head_seq, watermarks, summary)
        budget.left -= _size(empty.to_wire())
        if after >= head_seq:  # nothing was allocated after it: no Query needed
            return empty
        if budget.left <= 0 and budget.spent_any:  # no room left in this response: come back
            return ChatSync(chat_id, [], True, encode_cursor(chat_id, after), head_seq, watermarks, summary)

        page = self.store.events_after(chat_id, after, limit)
        frames: list[dict[str, Any]] = []
        position = after
        cut_short = False
        for event in page.events:
            frame = event.frame()
            if frame is None:
                position = event.seq
                continue
            if not budget.take(_size(frame) + 1):
                cut_short = True
                break
            frames.append(frame)
            position = event.seq
        if not cut_short and page.last_seq is not None:
            position = page.last_seq  # past skipped items too
        has_more = cut_short or page.has_more
        last_seen = max(head_seq, position)
        return ChatSync(
            chat_id,
            frames,
            has_more,
            encode_cursor(chat_id, position) if has_more else None,
            last_seen,
            watermarks,
            summary,
        )
