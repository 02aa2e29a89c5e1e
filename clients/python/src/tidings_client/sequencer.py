"""Per-chat ordering: chat events reach handlers in `seq` order, each exactly once.

Pure bookkeeping, no I/O: the client feeds it live frames and `sync.response` entries and
delivers what it returns. Per chat it keeps the highest `seq` applied (`last_seq`), the frames
that arrived ahead of a missing `seq` (`pending`), and the ids of recent messages (a
`message.new` whose message is already known is dropped, but still moves `last_seq`).

- An event right after `last_seq` is delivered, then any pending ones that now follow.
- An event further ahead waits in `pending`: a gap, which the client fills with `sync.request`
  if it is still open after a short wait (frames of one chat can overtake each other).
- While a chat syncs (after every reconnect: listen first, then sync), live frames wait until
  its sync entry has been applied; the entry's events join them and all go out in seq order.
- Seqs can have holes (a retried send leaves one), and a sync entry's `headSeq` can count an
  event that is still being written (it then arrives live, a moment later). So the seqs at or
  below `headSeq` that sync did not return are only *presumed* holes: the client waits
  `gap_timeout` for them and then `skip_holes()`. A frame that turns up for a skipped seq after
  all is still delivered (late, out of order) rather than dropped.
- A chat seen for the first time starts at its first event; earlier history is the REST API's.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from tidings_client.frames import Frame, chat_event_position, message_id_of


@dataclass
class ChatState:
    last_seq: int | None = None  # everything at or below was delivered or skipped
    pending: dict[int, Frame] = field(default_factory=dict)  # arrived, waiting for a missing seq
    seen: OrderedDict[str, None] = field(default_factory=OrderedDict)  # recent message ids
    syncing: bool = False
    holes_until: int = 0  # sync's headSeq: missing seqs up to here are presumed holes
    skipped: OrderedDict[int, None] = field(default_factory=OrderedDict)  # seqs passed as holes


@dataclass
class SyncOutcome:
    deliver: list[Frame] = field(default_factory=list)
    cursor: str | None = None  # hasMore: ask again with this cursor
    reset: bool = False  # headSeq went backwards: the chat was reset; ask again from seq 0
    too_large: bool = False  # too far behind: refetch over REST, then reset_to()
    head_seq: int | None = None
    removed: dict[str, Any] | None = None  # the entry's error: the chat is no longer ours


class Sequencer:
    def __init__(self, remember_ids: int = 1000) -> None:
        self.chats: dict[str, ChatState] = {}
        self._remember_ids = remember_ids

    # --- what is known -----------------------------------------------------------------------

    def track(self, chat_id: str, last_seq: int) -> None:
        """Sets a chat's watermark (from a cache, or `GET /api/chats`' `headSeq`)."""
        state = self.chats.setdefault(chat_id, ChatState())
        state.last_seq = last_seq
        for seq in [s for s in state.pending if s <= last_seq]:
            del state.pending[seq]

    def forget(self, chat_id: str) -> None:
        self.chats.pop(chat_id, None)

    def watermarks(self) -> dict[str, int]:
        return {chat_id: s.last_seq for chat_id, s in self.chats.items() if s.last_seq is not None}

    def has_gap(self, chat_id: str) -> bool:
        """Frames wait for a missing seq (or sync left presumed holes): worth a timer."""
        state = self.chats.get(chat_id)
        if state is None or state.syncing or state.last_seq is None:
            return False
        return bool(state.pending) or state.last_seq < state.holes_until

    def has_holes(self, chat_id: str) -> bool:
        state = self.chats.get(chat_id)
        return state is not None and state.last_seq is not None and state.last_seq < state.holes_until

    def is_syncing(self, chat_id: str) -> bool:
        state = self.chats.get(chat_id)
        return state is not None and state.syncing

    # --- live frames ---------------------------------------------------------------------------

    def live(self, frame: Frame) -> list[Frame]:
        """The frames to deliver now (maybe none) after `frame` arrived."""
        position = chat_event_position(frame)
        if position is None:
            return [frame]
        chat_id, seq = position
        state = self.chats.setdefault(chat_id, ChatState())
        if state.last_seq is None and not state.syncing:
            state.last_seq = seq - 1  # a chat seen for the first time starts here
        if state.last_seq is not None and seq <= state.last_seq:
            if seq in state.skipped:  # not a hole after all: late beats lost
                del state.skipped[seq]
                return self._apply(state, seq, frame, advance=False)
            return []  # applied already
        if state.syncing or state.last_seq is None or seq > state.last_seq + 1:
            state.pending.setdefault(seq, frame)
            return []
        return self._apply(state, seq, frame) + self._drain(state)

    # --- sync ----------------------------------------------------------------------------------

    def begin_sync(self, chat_ids: list[str]) -> None:
        for chat_id in chat_ids:
            if chat_id in self.chats:
                self.chats[chat_id].syncing = True

    def end_sync(self, chat_id: str) -> list[Frame]:
        """Stops holding a chat's live frames (a sync that could not finish)."""
        state = self.chats.get(chat_id)
        if state is None:
            return []
        state.syncing = False
        return self._drain(state)

    def apply_sync(self, entry: dict[str, Any]) -> SyncOutcome:
        """Applies one chat's `sync.response` object (the single-chat payload, or an entry of
        `chats`)."""
        chat_id = entry.get("chatId")
        if not isinstance(chat_id, str):
            return SyncOutcome()
        error = entry.get("error")
        if error is not None:
            self.chats.pop(chat_id, None)
            return SyncOutcome(removed=error if isinstance(error, dict) else {"code": "ERROR"})
        state = self.chats.setdefault(chat_id, ChatState(last_seq=0))
        head = entry.get("headSeq")
        head_seq = head if isinstance(head, int) and not isinstance(head, bool) else None
        if entry.get("tooLarge"):
            return SyncOutcome(too_large=True, head_seq=head_seq)
        if head_seq is not None and state.last_seq is not None and head_seq < state.last_seq:
            # The server forgot events we applied: a `tidings dev` restarted without its data,
            # or a restored backup. Start the chat again from the beginning.
            state.last_seq = 0
            state.pending.clear()
            state.seen.clear()
            state.skipped.clear()
            state.holes_until = 0
            state.syncing = True
            return SyncOutcome(reset=True, head_seq=head_seq)
        if state.last_seq is None:
            state.last_seq = 0
        outcome = SyncOutcome(head_seq=head_seq)
        for event in entry.get("events") or []:
            position = chat_event_position(event) if isinstance(event, dict) else None
            if position is not None and position[1] > state.last_seq:
                state.pending.setdefault(position[1], event)
        cursor = entry.get("cursor")
        if entry.get("hasMore") and isinstance(cursor, str):
            outcome.cursor = cursor
            return outcome
        if head_seq is not None:
            state.holes_until = max(state.holes_until, head_seq)
        state.syncing = False
        outcome.deliver += self._drain(state)
        return outcome

    def skip_holes(self, chat_id: str) -> list[Frame]:
        """Passes the seqs a complete sync did not return (up to its `headSeq`) that have not
        arrived since: they are holes. Returns what can be delivered now."""
        state = self.chats.get(chat_id)
        if state is None or state.last_seq is None or state.syncing:
            return []
        delivered: list[Frame] = []
        while state.last_seq < state.holes_until:
            seq = state.last_seq + 1
            if seq in state.pending:
                delivered += self._apply(state, seq, state.pending.pop(seq))
            else:
                state.last_seq = seq
                state.skipped[seq] = None
                while len(state.skipped) > self._remember_ids:
                    state.skipped.popitem(last=False)
        return delivered + self._drain(state)

    def reset_to(self, chat_id: str, head_seq: int, message_ids: list[str]) -> list[Frame]:
        """After a `tooLarge` refetch: continue from `head_seq`, knowing these messages."""
        state = self.chats.setdefault(chat_id, ChatState())
        state.last_seq = head_seq
        state.holes_until = max(state.holes_until, head_seq)
        state.seen.clear()
        for message_id in message_ids:
            self._remember(state, message_id)
        state.syncing = False
        return self._drain(state)

    # --- internals -----------------------------------------------------------------------------

    def _apply(self, state: ChatState, seq: int, frame: Frame, *, advance: bool = True) -> list[Frame]:
        if advance:
            state.last_seq = seq
        message_id = message_id_of(frame)
        if message_id is not None:
            if message_id in state.seen:
                return []  # the same message again (a retried send's echo): seq moves, no event
            self._remember(state, message_id)
        return [frame]

    def _remember(self, state: ChatState, message_id: str) -> None:
        state.seen[message_id] = None
        while len(state.seen) > self._remember_ids:
            state.seen.popitem(last=False)

    def _drain(self, state: ChatState) -> list[Frame]:
        delivered: list[Frame] = []
        assert state.last_seq is not None
        for seq in [s for s in state.pending if s <= state.last_seq]:
            del state.pending[seq]
        while not state.syncing and state.last_seq + 1 in state.pending:
            seq = state.last_seq + 1
            delivered += self._apply(state, seq, state.pending.pop(seq))
        return delivered
