"""Presence's state machine (docs/protocol.md, "Presence"): pure, free of AWS event shapes.

Every input (a connection opening or closing, activity, an idle timer, a `presence.update`, a
coalescing timer) maps the stored `PresenceState` to a new one plus the timers to arm. The
status subscribers see is derived: offline without connections, else the status the user
chose, else away when idle, else available."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

AVAILABLE = "available"


AWAY = "away"


DND = "dnd"


BRB = "brb"


OFFLINE = "offline"


IN_A_MEETING = "in_a_meeting"


STATUSES = (AVAILABLE, AWAY, DND, BRB, OFFLINE, IN_A_MEETING)


Status = Literal["available", "away", "dnd", "brb", "offline", "in_a_meeting"]


@dataclass(frozen=True)
class PresenceTimings:
    """The durations of docs/protocol.md, configurable so tests need not wait 5 minutes."""

    idle_seconds: float = 300.0
    update_interval_seconds: float = 10.0
    subscription_seconds: int = 600

    @property
    def activity_write_interval(self) -> float:
        """A container records a user's activity at most this often: a write per frame would
        cost more than the messages themselves."""
        return self.idle_seconds / 5

    @property
    def idle_threshold(self) -> float:
        """The stored last activity can be up to one write interval older than the real one, so
        away waits for this long: never earlier than `idle_seconds` after the last activity."""
        return self.idle_seconds + self.activity_write_interval


@dataclass(frozen=True)
class PresenceState:
    """What is stored about one user. `version` 0 means nothing is stored yet."""

    user_id: str
    status: str = OFFLINE
    manual_status: str | None = None
    idle: bool = False
    connection_ids: frozenset[str] = frozenset()
    last_active_at: float = 0.0
    last_seen: float | None = None
    idle_chain: str | None = None
    applied_at: float | None = None
    pending_status: str | None = None
    version: int = 0

    def visible_status(self) -> str:
        if not self.connection_ids:
            return OFFLINE
        if self.manual_status is not None:
            return self.manual_status
        return AWAY if self.idle else AVAILABLE


@dataclass(frozen=True)
class IdleTimer:
    """Checks for idleness; `chain` names the timer chain of one online period, so timers left
    over from an earlier period do nothing."""

    user_id: str
    chain: str


@dataclass(frozen=True)
class ApplyTimer:
    """Applies a coalesced `presence.update` once the update interval has passed."""

    user_id: str


PresenceTimer = IdleTimer | ApplyTimer


@dataclass(frozen=True)
class Transition:
    state: PresenceState
    timers: tuple[tuple[PresenceTimer, int], ...] = field(default=())  # (timer, delay in seconds)


def _delay(seconds: float) -> int:
    return max(1, math.ceil(seconds))


@dataclass(frozen=True)
class PresenceMachine:
    """The presence rules as pure functions of (state, input, now). None: nothing changes."""

    timings: PresenceTimings
    new_chain: Callable[[], str] = lambda: uuid.uuid4().hex

    def connected(self, state: PresenceState, connection_id: str, now: float) -> Transition:
        return self._online(state, connection_id, now)

    def disconnected(self, state: PresenceState, connection_id: str, now: float) -> Transition | None:
        if connection_id not in state.connection_ids:
            return None
        left = state.connection_ids - {connection_id}
        if left:  # several sessions are one user: still here
            return self._settle(state, replace(state, connection_ids=left), now)
        return self._settle(state, self._gone(state), now)

    def activity(self, state: PresenceState, connection_id: str, now: float) -> Transition:
        return self._online(state, connection_id, now)

    def idle_fired(
        self, state: PresenceState, timer: IdleTimer, now: float, live: frozenset[str] | None = None
    ) -> Transition | None:
        """`live`: which of the state's connections still exist. The chain ticks once per idle
        time while the user is connected, so it also sweeps connections whose `$disconnect` was
        lost: without that such a user would stay online forever."""
        if timer.chain != state.idle_chain or not state.connection_ids:
            return None  # a timer of an earlier online period: that chain ends here
        current = state
        if live is not None and not state.connection_ids <= live:
            if not state.connection_ids & live:
                return self._settle(state, self._gone(state), now)
            current = replace(state, connection_ids=state.connection_ids & live)
        due_at = current.last_active_at + self.timings.idle_threshold
        if now < due_at:  # activity since it was armed: check again when it could be due
            return Transition(current, ((timer, _delay(due_at - now)),))
        # The chain goes on while the user is connected, so activity never has to arm a timer.
        next_check: tuple[PresenceTimer, int] = (timer, _delay(self.timings.idle_threshold))
        return self._settle(state, replace(current, idle=True), now, (next_check,))

    def requested(self, state: PresenceState, status: str, connection_id: str, now: float) -> Transition:
        """`presence.update`: applied at once unless one was applied within the update interval;
        then it waits, and the latest request wins when the interval is over (coalescing)."""
        online = self._online(state, connection_id, now)
        interval = self.timings.update_interval_seconds
        applied_at = online.state.applied_at
        if applied_at is None or now - applied_at >= interval:
            return self._settle(state, self._apply(online.state, status, now), now, online.timers)
        timers = online.timers
        if online.state.pending_status is None:  # the first one waiting arms the timer; later ones ride on it
            timers += ((ApplyTimer(state.user_id), _delay(applied_at + interval - now)),)
        return self._settle(state, replace(online.state, pending_status=status), now, timers)

    def apply_fired(self, state: PresenceState, now: float) -> Transition | None:
        if state.pending_status is None or not state.connection_ids:
            return None
        due_at = (state.applied_at or 0.0) + self.timings.update_interval_seconds
        if now < due_at - 0.25:
            return Transition(state, ((ApplyTimer(state.user_id), _delay(due_at - now)),))
        return self._settle(state, self._apply(state, state.pending_status, now), now)

    # --- helpers ------------------------------------------------------------------------

    def _online(self, state: PresenceState, connection_id: str, now: float) -> Transition:
        """A connection is open and active: the first one starts an online period (and its idle
        timer chain); activity ends automatic away."""
        first = not state.connection_ids
        chain = self.new_chain() if first else state.idle_chain
        after = replace(
            state,
            connection_ids=state.connection_ids | {connection_id},
            last_active_at=max(state.last_active_at, now),
            idle=False,
            idle_chain=chain,
        )
        timers: tuple[tuple[PresenceTimer, int], ...] = ()
        if first and chain is not None:
            timers = ((IdleTimer(state.user_id, chain), _delay(self.timings.idle_threshold)),)
        return self._settle(state, after, now, timers)

    @staticmethod
    def _gone(state: PresenceState) -> PresenceState:
        """The last session closed: offline, and what the user chose ends with the session."""
        return replace(
            state, connection_ids=frozenset(), manual_status=None, pending_status=None, idle=False, idle_chain=None
        )

    @staticmethod
    def _apply(state: PresenceState, status: str, now: float) -> PresenceState:
        # `available` hands the status back to the automatic transitions; anything else sticks
        # until the user changes it or the last session closes.
        manual = None if status == AVAILABLE else status
        return replace(state, manual_status=manual, idle=False, applied_at=now, pending_status=None)

    @staticmethod
    def _settle(
        before: PresenceState,
        after: PresenceState,
        now: float,
        timers: tuple[tuple[PresenceTimer, int], ...] = (),
    ) -> Transition:
        status = after.visible_status()
        last_seen = now if status == OFFLINE and before.status != OFFLINE else after.last_seen
        return Transition(replace(after, status=status, last_seen=last_seen), timers)
