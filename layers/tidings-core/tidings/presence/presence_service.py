"""The presence service: load, step the machine, write if nobody wrote meanwhile (optimistic
concurrency on `version`), then arm the timers. Also subscribe/unsubscribe and snapshots."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from tidings.kernel.errors import Forbidden, Unavailable
from tidings.kernel.observability import logger, metrics
from tidings.kernel.ratelimits import RateLimiter
from tidings.presence.declaration import PRESENCE_SUBSCRIBE
from tidings.presence.machine import (
    ApplyTimer,
    IdleTimer,
    PresenceMachine,
    PresenceState,
    PresenceTimer,
    PresenceTimings,
    Transition,
)
from tidings.presence.wire import state_payload

# A write that lost a race is recomputed from the new state; more than this many in a row means
# something is badly wrong, and presence is best effort.
MAX_WRITE_ATTEMPTS = 6


# The start of the FORBIDDEN message of a presence.subscribe that names users the subscriber
# shares no chat with; the ids follow, comma-separated (docs/protocol.md).
NOT_SHARED_MESSAGE = "You share no chat with these users, so you cannot see their presence"

# A warm container remembers this many users' last recorded activity before forgetting the
# stale ones (forgetting only costs one more conditional write).
MAX_REMEMBERED_USERS = 10_000


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


class PresenceVisibility(Protocol):
    def shared_with(self, user_id: str, others: Sequence[str]) -> set[str]:
        """Those of `others` who share a chat with `user_id`."""


class TimerQueue(Protocol):
    def schedule(self, timer: PresenceTimer, delay_seconds: int) -> None: ...


class ConnectionLiveness(Protocol):
    def existing(self, connection_ids: frozenset[str]) -> frozenset[str]:
        """Those of the connections that are still registered (read consistently)."""


class WriteConflict(Exception):
    """The state kept changing under us; presence is best effort, so the input is dropped."""


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
        visibility: PresenceVisibility | None = None,
    ) -> None:
        self._rate_limiter = rate_limiter
        self._visibility = visibility
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
        each user, in the order asked, once each. Raises RateLimited (PRESENCE_SUBSCRIBE),
        Unavailable, and Forbidden naming the users the subscriber shares no chat with (then
        nothing is subscribed: a refused frame changes nothing)."""
        if self._rate_limiter is not None:
            self._rate_limiter.enforce(PRESENCE_SUBSCRIBE, subscriber_id)
        wanted = list(dict.fromkeys(user_ids))
        if self._visibility is not None:
            self._refuse_unshared(subscriber_id, wanted, self._visibility)

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
        when presence is down: sync must work without it."""
        try:
            user_ids = self._subscriptions.subscribed_by(subscriber_id, self._now())
            states = self._store.states(user_ids) if user_ids else {}
        except Exception:
            logger.exception("presence unavailable: sync carries no presence")
            metrics.add_metric(name="PresenceFailures", unit="Count", value=1)
            return []
        return [state_payload(user_id, states.get(user_id)) for user_id in user_ids]

    # --- helpers ---------------------------------------------------------------------------

    def _refuse_unshared(self, subscriber_id: str, wanted: list[str], visibility: PresenceVisibility) -> None:
        others = [user_id for user_id in wanted if user_id != subscriber_id]  # one's own: always
        if not others:
            return
        shared = self._guarded(lambda: visibility.shared_with(subscriber_id, others))
        refused = [user_id for user_id in others if user_id not in shared]
        if refused:
            metrics.add_metric(name="PresenceSubscriptionsRefused", unit="Count", value=1)
            raise Forbidden(f"{NOT_SHARED_MESSAGE}: {', '.join(refused)}")

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
    """Presence must never fail `$connect`, `$disconnect` or a message: a failure is
    logged and counted, and the user's presence is stale until the next transition."""
    try:
        action()
    except Exception:
        logger.exception("presence unavailable", extra={"presenceInput": what})
        metrics.add_metric(name="PresenceFailures", unit="Count", value=1)
