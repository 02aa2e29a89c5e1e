"""Presence (PROTOCOL.md §8, seed §4.1-4.2): statuses, automatic transitions, subscriptions.

Free of AWS event shapes. Three parts:

- `PresenceMachine`: the state machine of one user, pure. Every input (a connection opening
  or closing, activity, an idle timer, a `presence.update`, a coalescing timer) maps the stored
  `PresenceState` to a new one plus the timers to arm. The status subscribers see is derived:
  offline without connections, else the status the user chose, else away when idle, else
  available.
- `PresenceService`: load, step the machine, write if nobody wrote meanwhile (optimistic
  concurrency on `version`), then arm the timers. Also subscribe/unsubscribe and snapshots.
- `PresenceFanout` and `coalesce_changes`: the Presence stream consumer's logic. A batch (the
  event source's 2 s window) is reduced to each user's final status, and only a user whose final
  status differs from where the batch started is announced, to the subscribers of that user only.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from tidings.kernel.connections_api import ConnectionDirectory, ConnectionPoster, DeliveryFailed
from tidings.kernel.errors import Unavailable
from tidings.kernel.observability import logger, metrics
from tidings.kernel.ratelimits import PRESENCE_SUBSCRIBE, RateLimiter
from tidings.kernel.wire import ack_ok, encode, iso, server_frame

AVAILABLE = "available"
AWAY = "away"
DND = "dnd"
BRB = "brb"
OFFLINE = "offline"
IN_A_MEETING = "in_a_meeting"
STATUSES = (AVAILABLE, AWAY, DND, BRB, OFFLINE, IN_A_MEETING)
Status = Literal["available", "away", "dnd", "brb", "offline", "in_a_meeting"]

MAX_SUBSCRIBE_USERS = 100
# A write that lost a race is recomputed from the new state; more than this many in a row means
# something is badly wrong, and presence is best effort.
MAX_WRITE_ATTEMPTS = 6
# A warm container remembers this many users' last recorded activity before forgetting the
# stale ones (forgetting only costs one more conditional write).
MAX_REMEMBERED_USERS = 10_000


@dataclass(frozen=True)
class PresenceTimings:
    """The durations of PROTOCOL.md §8 and §10, configurable so tests need not wait 5 minutes."""

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


class PresenceMachine:
    """Seed §4.1 as pure functions of (state, input, now). None: nothing changes."""

    def __init__(self, timings: PresenceTimings, new_chain: Callable[[], str] = lambda: uuid.uuid4().hex) -> None:
        self.timings = timings
        self._new_chain = new_chain

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
        chain = self._new_chain() if first else state.idle_chain
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


# --- frames -------------------------------------------------------------------------------


def presence_payload(user_id: str, status: str, last_seen: float | None) -> dict[str, Any]:
    """The payload of `presence.changed`, and an entry of sync's `presence` list."""
    payload: dict[str, Any] = {"userId": user_id, "status": status}
    if status == OFFLINE and last_seen is not None:
        payload["lastSeen"] = iso(last_seen)
    return payload


def state_payload(user_id: str, state: PresenceState | None) -> dict[str, Any]:
    """Unknown and never-connected users are offline, without `lastSeen`."""
    if state is None:
        return presence_payload(user_id, OFFLINE, None)
    return presence_payload(user_id, state.status, state.last_seen)


def presence_changed_frame(payload: dict[str, Any]) -> str:
    return encode(server_frame("presence.changed", payload))


# --- ports ----------------------------------------------------------------------------------


class PresenceStore(Protocol):
    def load(self, user_id: str) -> PresenceState | None:
        """The stored state, read consistently."""

    def save(self, state: PresenceState, expected_version: int) -> bool:
        """Writes `state` with version `expected_version + 1` if the stored version is still
        `expected_version` (0: nothing stored); False if someone wrote meanwhile."""

    def touch(self, user_id: str, connection_id: str, at: float) -> bool:
        """Records activity if nothing else changes by it (the connection is known and the user
        is not automatically away); False when the full transition is needed."""

    def states(self, user_ids: Sequence[str]) -> dict[str, PresenceState]: ...


class SubscriptionStore(Protocol):
    def subscribe(self, subscriber_id: str, user_ids: Sequence[str], expires_at: float) -> None: ...

    def unsubscribe(self, subscriber_id: str, user_ids: Sequence[str]) -> None: ...

    def subscribers_of(self, user_id: str, now: float) -> list[str]:
        """Who subscribed to `user_id` and has not lapsed (TTL deletion is lazy)."""

    def subscribed_by(self, subscriber_id: str, now: float) -> list[str]: ...


class TimerQueue(Protocol):
    def schedule(self, timer: PresenceTimer, delay_seconds: int) -> None: ...


class ConnectionLiveness(Protocol):
    def existing(self, connection_ids: frozenset[str]) -> frozenset[str]:
        """Those of the connections that are still registered (read consistently)."""


class WriteConflict(Exception):
    """The state kept changing under us; presence is best effort, so the input is dropped."""


# --- the service ----------------------------------------------------------------------------


class PresenceService:
    def __init__(
        self,
        store: PresenceStore,
        subscriptions: SubscriptionStore,
        timers: Callable[[], TimerQueue],
        timings: PresenceTimings,
        liveness: ConnectionLiveness | None = None,
        now: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
        machine: PresenceMachine | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self._rate_limiter = rate_limiter
        self._store = store
        self._subscriptions = subscriptions
        self._timers = timers
        self.timings = timings
        self._liveness = liveness
        self._now = now
        self._clock = clock
        self._machine = machine or PresenceMachine(timings)
        # user id -> when this container last recorded the user's activity (monotonic)
        self._recorded: dict[str, float] = {}

    # --- automatic transitions -------------------------------------------------------------

    def connected(self, user_id: str, connection_id: str) -> None:
        self._step(user_id, lambda state, now: self._machine.connected(state, connection_id, now))
        self._remember(user_id, self._clock())

    def disconnected(self, user_id: str, connection_id: str) -> None:
        self._step(user_id, lambda state, now: self._machine.disconnected(state, connection_id, now))

    def activity(self, user_id: str, connection_id: str) -> bool:
        """A frame that shows the user is there. Costs nothing when this container recorded the
        user's activity recently, one conditional write otherwise, and the full transition only
        when the status changes by it (away → available). True when something was written."""
        clock = self._clock()
        recorded = self._recorded.get(user_id)
        if recorded is not None and clock - recorded < self.timings.activity_write_interval:
            return False
        if not self._store.touch(user_id, connection_id, self._now()):
            self._step(user_id, lambda state, now: self._machine.activity(state, connection_id, now))
        self._remember(user_id, clock)
        return True

    def idle_fired(self, timer: IdleTimer) -> None:
        def step(state: PresenceState, now: float) -> Transition | None:
            live = None
            if self._liveness is not None and state.connection_ids and timer.chain == state.idle_chain:
                live = self._liveness.existing(state.connection_ids)
            return self._machine.idle_fired(state, timer, now, live)

        self._step(timer.user_id, step)

    def apply_fired(self, timer: ApplyTimer) -> None:
        self._step(timer.user_id, lambda state, now: self._machine.apply_fired(state, now))

    def timer_fired(self, timer: PresenceTimer) -> None:
        if isinstance(timer, IdleTimer):
            self.idle_fired(timer)
        else:
            self.apply_fired(timer)

    # --- frames ----------------------------------------------------------------------------

    def update(self, user_id: str, connection_id: str, status: str) -> bool:
        """`presence.update`; True if applied now, False if coalesced (applied when the update
        interval is over, unless a later update replaces it). Raises Unavailable."""
        applied: list[bool] = []

        def step(state: PresenceState, now: float) -> Transition:
            transition = self._machine.requested(state, status, connection_id, now)
            applied[:] = [transition.state.pending_status is None]
            return transition

        self._guarded(lambda: self._step(user_id, step))
        self._remember(user_id, self._clock())
        return applied[-1]

    def subscribe(self, subscriber_id: str, user_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Subscribes (or renews) for the subscription time; returns the current presence of
        each user, in the order asked, once each. Raises RateLimited (PRESENCE_SUBSCRIBE), Unavailable."""
        if self._rate_limiter is not None:
            self._rate_limiter.enforce(PRESENCE_SUBSCRIBE, subscriber_id)
        wanted = list(dict.fromkeys(user_ids))

        def run() -> list[dict[str, Any]]:
            now = self._now()
            self._subscriptions.subscribe(subscriber_id, wanted, now + self.timings.subscription_seconds)
            states = self._store.states(wanted)
            return [state_payload(user_id, states.get(user_id)) for user_id in wanted]

        return self._guarded(run)

    def unsubscribe(self, subscriber_id: str, user_ids: Sequence[str]) -> None:
        self._guarded(lambda: self._subscriptions.unsubscribe(subscriber_id, list(dict.fromkeys(user_ids))))

    def subscribed_presence(self, subscriber_id: str) -> list[dict[str, Any]]:
        """Sync's `presence`: the current presence of the users this user subscribed to. Empty
        when presence is down: sync must work without it (seed §8.4)."""
        try:
            user_ids = self._subscriptions.subscribed_by(subscriber_id, self._now())
            states = self._store.states(user_ids) if user_ids else {}
        except Exception:
            logger.exception("presence unavailable: sync carries no presence")
            metrics.add_metric(name="PresenceFailures", unit="Count", value=1)
            return []
        return [state_payload(user_id, states.get(user_id)) for user_id in user_ids]

    # --- helpers ---------------------------------------------------------------------------

    def _remember(self, user_id: str, clock: float) -> None:
        self._recorded[user_id] = clock
        if len(self._recorded) > MAX_REMEMBERED_USERS:
            horizon = clock - self.timings.activity_write_interval
            self._recorded = {user: at for user, at in self._recorded.items() if at >= horizon}

    def _step(self, user_id: str, step: Callable[[PresenceState, float], Transition | None]) -> None:
        for _ in range(MAX_WRITE_ATTEMPTS):
            stored = self._store.load(user_id)
            state = stored or PresenceState(user_id)
            transition = step(state, self._now())
            if transition is None:
                return
            if transition.state != state and not self._store.save(transition.state, state.version):
                continue  # someone else changed it: recompute from what they wrote
            for timer, delay in transition.timers:
                self._timers().schedule(timer, delay)
            return
        raise WriteConflict(f"presence of {user_id!r} changed {MAX_WRITE_ATTEMPTS} times while being written")

    @staticmethod
    def _guarded(action: Callable[[], Any]) -> Any:
        """Runs a frame's presence work; storage failing becomes UNAVAILABLE for that frame."""
        try:
            return action()
        except Exception as exc:
            logger.exception("presence unavailable")
            metrics.add_metric(name="PresenceFailures", unit="Count", value=1)
            raise Unavailable("Presence temporarily unavailable") from exc


def best_effort(action: Callable[[], Any], what: str) -> None:
    """Presence must never fail `$connect`, `$disconnect` or a message (seed §8.4): a failure is
    logged and counted, and the user's presence is stale until the next transition."""
    try:
        action()
    except Exception:
        logger.exception("presence unavailable", extra={"presenceInput": what})
        metrics.add_metric(name="PresenceFailures", unit="Count", value=1)


def subscribe_frames(ref_id: str, snapshot: Iterable[dict[str, Any]]) -> list[str]:
    """The ack, then one `presence.changed` per user: the order PROTOCOL.md §8 gives."""
    return [encode(ack_ok(ref_id))] + [presence_changed_frame(payload) for payload in snapshot]


# --- the stream consumer's logic --------------------------------------------------------------


@dataclass(frozen=True)
class StatusChange:
    """One Presence stream record, reduced to what subscribers see. `record_id` identifies the
    record in its batch."""

    user_id: str
    old_status: str
    new_status: str
    last_seen: float | None
    record_id: str


def coalesce_changes(changes: Iterable[StatusChange]) -> dict[str, StatusChange]:
    """Per user, the last change of the batch, if the final status differs from the status the
    batch started with. Flapping within the batching window collapses to its final state, and
    a flap that ends where it began sends nothing."""
    first_old: dict[str, str] = {}
    last: dict[str, StatusChange] = {}
    for change in changes:
        first_old.setdefault(change.user_id, change.old_status)
        last[change.user_id] = change
    return {user_id: change for user_id, change in last.items() if change.new_status != first_old[user_id]}


class PresenceFanout:
    """Delivers a status change to the connections of the users subscribed to it. Reads only
    that user's subscribers (one Query) and their connections (one Query each)."""

    def __init__(
        self,
        subscriptions: SubscriptionStore,
        connections: ConnectionDirectory,
        poster: ConnectionPoster,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._subscriptions = subscriptions
        self._connections = connections
        self._poster = poster
        self._now = now

    def publish(self, change: StatusChange) -> int:
        """Posts `presence.changed`; returns how many connections got it. Raises DeliveryFailed
        when some could not be reached (not gone), so the record is retried."""
        frame = presence_changed_frame(presence_payload(change.user_id, change.new_status, change.last_seen))
        delivered = failed = 0
        first_error: Exception | None = None
        for subscriber_id in self._subscriptions.subscribers_of(change.user_id, self._now()):
            for connection_id in self._connections.for_user(subscriber_id):
                try:
                    if self._poster.post(connection_id, frame):
                        delivered += 1
                    else:
                        self._connections.forget_gone(connection_id)
                except Exception as exc:  # one bad connection must not starve the others
                    failed += 1
                    first_error = first_error or exc
        if first_error is not None:
            raise DeliveryFailed(f"{failed} connection(s) failed") from first_error
        return delivered
