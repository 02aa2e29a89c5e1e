"""The presence state machine, presence.update coalescing, the
stream batch coalescing, and the service around them with in-memory ports."""

from __future__ import annotations

from dataclasses import replace
from itertools import count

import pytest

from tidings.kernel.errors import Unavailable
from tidings.presence.machine import (
    ApplyTimer,
    IdleTimer,
    PresenceMachine,
    PresenceState,
    PresenceTimer,
    PresenceTimings,
)
from tidings.presence.presence_fanout import PresenceFanout, StatusChange, coalesce_changes
from tidings.presence.presence_service import PresenceService
from tidings.presence.wire import presence_payload, state_payload

TIMINGS = PresenceTimings(idle_seconds=300, update_interval_seconds=10, subscription_seconds=600)
T0 = 1_800_000_000.0


def machine() -> PresenceMachine:
    chains = count(1)
    return PresenceMachine(TIMINGS, new_chain=lambda: f"chain-{next(chains)}")


def online(user: str = "u", *connections: str, at: float = T0) -> PresenceState:
    state = PresenceState(user)
    m = machine()
    for connection in connections or ("c1",):
        state = m.connected(state, connection, at).state
    return state


# --- the state machine ----------------------------------------------------------------------


def test_a_new_user_is_offline_without_last_seen():
    state = PresenceState("u")
    assert state.visible_status() == "offline"
    assert state_payload("u", None) == {"userId": "u", "status": "offline"}


def test_the_first_connection_makes_the_user_available_and_starts_the_idle_chain():
    transition = machine().connected(PresenceState("u"), "c1", T0)
    assert transition.state.status == "available"
    assert transition.state.last_active_at == T0
    assert transition.timers == ((IdleTimer("u", "chain-1"), 360),)  # idle 300 s + the write interval


def test_a_second_connection_changes_nothing_visible_and_arms_no_second_chain():
    first = machine().connected(PresenceState("u"), "c1", T0).state
    second = machine().connected(first, "c2", T0 + 5)
    assert second.state.status == "available"
    assert second.state.idle_chain == first.idle_chain
    assert second.timers == ()


def test_several_sessions_are_one_user_offline_only_when_the_last_closes():
    m = machine()
    state = online("u", "c1", "c2")
    after_first = m.disconnected(state, "c1", T0 + 10)
    assert after_first is not None and after_first.state.status == "available"
    after_last = m.disconnected(after_first.state, "c2", T0 + 20)
    assert after_last is not None
    assert after_last.state.status == "offline"
    assert after_last.state.last_seen == T0 + 20
    assert presence_payload("u", "offline", after_last.state.last_seen) == {
        "userId": "u",
        "status": "offline",
        "lastSeen": "2027-01-15T08:00:20.000Z",
    }


def test_closing_an_unknown_connection_writes_nothing():
    assert machine().disconnected(online("u", "c1"), "c9", T0) is None


def test_idle_for_the_idle_time_is_away_and_activity_is_available_again():
    m = machine()
    state = online("u", "c1")
    timer = IdleTimer("u", state.idle_chain or "")
    early = m.idle_fired(state, timer, T0 + 200)
    assert early is not None and early.state.status == "available"
    assert early.timers == ((timer, 160),), "not due yet: checks again when it could be"

    idle = m.idle_fired(state, timer, T0 + TIMINGS.idle_threshold)
    assert idle is not None and idle.state.status == "away"
    assert idle.timers == ((timer, 360),), "the chain goes on while the user is connected"

    back = m.activity(idle.state, "c1", T0 + 400)
    assert back.state.status == "available"
    assert back.timers == (), "activity never arms a timer: the chain is still running"


def test_activity_pushes_away_out():
    m = machine()
    state = m.activity(online("u", "c1"), "c1", T0 + 100).state
    fired = m.idle_fired(state, IdleTimer("u", state.idle_chain or ""), T0 + TIMINGS.idle_threshold)
    assert fired is not None and fired.state.status == "available"
    assert fired.timers[0][1] == 100


def test_a_timer_from_an_earlier_online_period_does_nothing():
    m = machine()
    first = m.connected(PresenceState("u"), "c1", T0).state
    old_timer = IdleTimer("u", first.idle_chain or "")
    gone = m.disconnected(first, "c1", T0 + 1)
    assert gone is not None
    again = m.connected(gone.state, "c2", T0 + 2).state
    assert again.idle_chain != old_timer.chain
    assert m.idle_fired(again, old_timer, T0 + 1000) is None
    assert m.idle_fired(gone.state, old_timer, T0 + 1000) is None


def test_the_idle_chain_sweeps_connections_whose_disconnect_was_lost():
    m = machine()
    state = online("u", "c1", "c2")
    timer = IdleTimer("u", state.idle_chain or "")
    one_left = m.idle_fired(state, timer, T0 + 10, live=frozenset({"c2"}))
    assert one_left is not None and one_left.state.connection_ids == {"c2"}
    assert one_left.state.status == "available"
    none_left = m.idle_fired(state, timer, T0 + 10, live=frozenset())
    assert none_left is not None
    assert none_left.state.status == "offline" and none_left.state.last_seen == T0 + 10
    assert none_left.timers == ()


@pytest.mark.parametrize("status", ["dnd", "brb", "in_a_meeting", "away", "offline"])
def test_a_chosen_status_sticks_through_idle_and_activity(status):
    m = machine()
    chosen = m.requested(online("u", "c1"), status, "c1", T0 + 1).state
    assert chosen.status == status
    timer = IdleTimer("u", chosen.idle_chain or "")
    idle = m.idle_fired(chosen, timer, T0 + 1000)
    assert idle is not None and idle.state.status == status
    assert m.activity(idle.state, "c1", T0 + 1001).state.status == status


def test_available_hands_the_status_back_to_the_automatic_transitions():
    m = machine()
    dnd = m.requested(online("u", "c1"), "dnd", "c1", T0).state
    available = m.requested(dnd, "available", "c1", T0 + 20).state
    assert available.manual_status is None and available.status == "available"
    idle = m.idle_fired(available, IdleTimer("u", available.idle_chain or ""), T0 + 20 + TIMINGS.idle_threshold)
    assert idle is not None and idle.state.status == "away"


def test_appearing_offline_sets_last_seen_and_ends_with_the_session():
    m = machine()
    hidden = m.requested(online("u", "c1"), "offline", "c1", T0 + 5).state
    assert hidden.status == "offline" and hidden.last_seen == T0 + 5
    closed = m.disconnected(hidden, "c1", T0 + 50)
    assert closed is not None and closed.state.last_seen == T0 + 5, "it was already offline"
    back = m.connected(closed.state, "c2", T0 + 60).state
    assert back.status == "available", "the chosen status ends with the last session"


def test_activity_from_a_connection_presence_missed_starts_an_online_period():
    """Presence was down at $connect: the next activity frame repairs it."""
    transition = machine().activity(PresenceState("u"), "c1", T0)
    assert transition.state.status == "available"
    assert [type(timer) for timer, _ in transition.timers] == [IdleTimer]


# --- presence.update coalescing -------------------------------------------------------------


def test_one_update_per_interval_takes_effect_at_once_and_later_ones_wait():
    m = machine()
    first = m.requested(online("u", "c1"), "dnd", "c1", T0 + 1)
    assert first.state.status == "dnd" and first.state.pending_status is None
    assert first.timers == ()

    second = m.requested(first.state, "brb", "c1", T0 + 3)
    assert second.state.status == "dnd", "coalesced: not yet"
    assert second.state.pending_status == "brb"
    assert second.timers == ((ApplyTimer("u"), 8),)

    third = m.requested(second.state, "in_a_meeting", "c1", T0 + 4)
    assert third.state.pending_status == "in_a_meeting", "the last one wins"
    assert third.timers == (), "the timer armed for the first waiting update serves the later ones"

    applied = m.apply_fired(third.state, T0 + 11)
    assert applied is not None
    assert applied.state.status == "in_a_meeting"
    assert applied.state.pending_status is None and applied.state.applied_at == T0 + 11


def test_an_update_after_the_interval_is_not_coalesced():
    m = machine()
    first = m.requested(online("u", "c1"), "dnd", "c1", T0).state
    later = m.requested(first, "brb", "c1", T0 + 10)
    assert later.state.status == "brb" and later.timers == ()


def test_an_early_apply_timer_re_arms_and_a_stale_one_does_nothing():
    m = machine()
    state = m.requested(online("u", "c1"), "dnd", "c1", T0).state
    waiting = m.requested(state, "brb", "c1", T0 + 1).state
    early = m.apply_fired(waiting, T0 + 5)
    assert early is not None and early.state == waiting and early.timers == ((ApplyTimer("u"), 5),)
    applied = m.apply_fired(waiting, T0 + 10)
    assert applied is not None
    assert m.apply_fired(applied.state, T0 + 20) is None


def test_a_waiting_update_is_dropped_when_the_last_session_closes():
    m = machine()
    state = m.requested(online("u", "c1"), "dnd", "c1", T0).state
    waiting = m.requested(state, "brb", "c1", T0 + 1).state
    closed = m.disconnected(waiting, "c1", T0 + 2)
    assert closed is not None and closed.state.pending_status is None
    assert m.apply_fired(closed.state, T0 + 10) is None


# --- the stream batch coalescing ------------------------------------------------------------


def change(user: str, old: str, new: str, record: str) -> StatusChange:
    return StatusChange(user, old, new, T0 if new == "offline" else None, record)


def test_flapping_within_a_batch_collapses_to_the_final_state():
    flaps = [
        change("u", "offline", "available", "1"),
        change("u", "available", "offline", "2"),
        change("u", "offline", "available", "3"),
        change("v", "available", "dnd", "4"),
        change("u", "available", "offline", "5"),
        change("u", "offline", "available", "6"),
    ]
    assert coalesce_changes(flaps) == {"u": flaps[5], "v": flaps[3]}


def test_a_flap_that_ends_where_it_began_sends_nothing():
    flaps = [change("u", "available", "offline", "1"), change("u", "offline", "available", "2")]
    assert coalesce_changes(flaps) == {}


# --- the service, with in-memory ports ------------------------------------------------------


class MemoryPresence:
    def __init__(self) -> None:
        self.items: dict[str, PresenceState] = {}
        self.saves = self.touches = 0
        self.fail = False
        self.interfere: PresenceState | None = None  # written by "someone else" before our next save

    def load(self, user_id: str) -> PresenceState | None:
        if self.fail:
            raise ConnectionError("DynamoDB is unreachable")
        return self.items.get(user_id)

    def save(self, state: PresenceState, expected_version: int) -> bool:
        if self.interfere is not None:
            self.items[state.user_id], self.interfere = self.interfere, None
        current = self.items.get(state.user_id)
        if (current.version if current else 0) != expected_version:
            return False
        self.saves += 1
        self.items[state.user_id] = replace(state, version=expected_version + 1)
        return True

    def touch(self, user_id: str, connection_id: str, at: float) -> bool:
        self.touches += 1
        state = self.items.get(user_id)
        if state is None or connection_id not in state.connection_ids or (state.status == "away" and state.idle):
            return False
        self.items[user_id] = replace(state, last_active_at=at, version=state.version + 1)
        return True

    def states(self, user_ids):
        if self.fail:
            raise ConnectionError("DynamoDB is unreachable")
        return {u: self.items[u] for u in user_ids if u in self.items}


class MemorySubscriptions:
    def __init__(self) -> None:
        self.expiry: dict[tuple[str, str], float] = {}  # (watched, subscriber) -> expires at

    def subscribe(self, subscriber_id, user_ids, expires_at):
        for user_id in user_ids:
            self.expiry[(user_id, subscriber_id)] = expires_at

    def unsubscribe(self, subscriber_id, user_ids):
        for user_id in user_ids:
            self.expiry.pop((user_id, subscriber_id), None)

    def subscribers_of(self, user_id, now):
        return [s for (u, s), at in self.expiry.items() if u == user_id and at > now]

    def subscribed_by(self, subscriber_id, now):
        return [u for (u, s), at in self.expiry.items() if s == subscriber_id and at > now]


class RecordedTimers:
    def __init__(self) -> None:
        self.armed: list[tuple[PresenceTimer, int]] = []

    def schedule(self, timer: PresenceTimer, delay_seconds: int) -> None:
        self.armed.append((timer, delay_seconds))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def parts():
    store, subscriptions, timers, clock = MemoryPresence(), MemorySubscriptions(), RecordedTimers(), Clock()
    service = PresenceService(store, subscriptions, lambda: timers, TIMINGS, now=clock, clock=clock)
    return service, store, subscriptions, timers, clock


def test_activity_is_written_at_most_once_per_write_interval_per_container(parts):
    service, store, _, _, clock = parts
    service.connected("u", "c1")
    saves = store.saves
    clock.now += 1
    assert service.activity("u", "c1") is False, "recorded at connect a moment ago"
    clock.now += TIMINGS.activity_write_interval
    assert service.activity("u", "c1") is True
    assert (store.touches, store.saves) == (1, saves), "one conditional update, no transition"
    clock.now += 1
    assert service.activity("u", "c1") is False
    assert store.touches == 1


def test_a_container_forgets_stale_activity_records_beyond_its_limit(parts, monkeypatch):
    import tidings.presence.presence_service as presence

    service, store, _, _, clock = parts
    monkeypatch.setattr(presence, "MAX_REMEMBERED_USERS", 3)
    store.items.update({u: online(u, "c1") for u in ("a", "b", "c", "d")})
    for user in ("a", "b", "c"):
        service.activity(user, "c1")
    clock.now += TIMINGS.activity_write_interval + 1
    service.activity("d", "c1")
    assert set(service._recorded) == {"d"}, "the stale ones are forgotten, the fresh one kept"
    assert service.activity("d", "c1") is False


def test_activity_while_away_is_the_full_transition(parts):
    service, store, _, timers, clock = parts
    service.connected("u", "c1")
    chain = timers.armed[0][0]
    clock.now += TIMINGS.idle_threshold
    service.timer_fired(chain)
    assert store.items["u"].status == "away"
    clock.now += 1
    service.activity("u", "c1")
    assert store.items["u"].status == "available"


def test_a_lost_race_is_recomputed_from_what_the_other_writer_stored(parts):
    service, store, _, _, _ = parts
    service.connected("u", "c1")
    # Another container adds a second connection between our read and our write.
    store.interfere = replace(store.items["u"], connection_ids=frozenset({"c1", "c2"}), version=5)
    service.disconnected("u", "c1")
    assert store.items["u"].connection_ids == {"c2"}
    assert store.items["u"].status == "available", "the other session keeps the user online"


def test_update_reports_whether_it_was_coalesced_and_arms_the_apply_timer(parts):
    service, store, _, timers, clock = parts
    service.connected("u", "c1")
    assert service.update("u", "c1", "dnd") is True
    clock.now += 2
    assert service.update("u", "c1", "brb") is False
    assert timers.armed[-1] == (ApplyTimer("u"), 8)
    clock.now += 8
    service.timer_fired(ApplyTimer("u"))
    assert store.items["u"].status == "brb"


def test_subscribe_answers_with_a_snapshot_in_the_order_asked_and_lapses(parts):
    service, _, subscriptions, _, clock = parts
    service.connected("u", "c1")
    snapshot = service.subscribe("watcher", ["ghost", "u", "ghost"])
    assert snapshot == [{"userId": "ghost", "status": "offline"}, {"userId": "u", "status": "available"}]
    assert service.subscribed_presence("watcher") == snapshot
    clock.now += TIMINGS.subscription_seconds
    assert subscriptions.subscribers_of("u", clock.now) == []
    assert service.subscribed_presence("watcher") == []


def test_presence_down_is_unavailable_for_frames_and_empty_for_sync(parts):
    service, store, _, _, _ = parts
    store.fail = True
    with pytest.raises(Unavailable, match="Presence temporarily unavailable"):
        service.update("u", "c1", "dnd")
    with pytest.raises(Unavailable):
        service.subscribe("watcher", ["u"])
    service._subscriptions.subscribe("watcher", ["u"], T0 + 600)  # type: ignore[attr-defined]
    assert service.subscribed_presence("watcher") == []


# --- the fan-out ------------------------------------------------------------------------------


class Posts:
    def __init__(self, gone: set[str] = frozenset(), broken: set[str] = frozenset()) -> None:
        self.sent: dict[str, list[str]] = {}
        self.gone, self.broken = set(gone), set(broken)

    def post(self, connection_id: str, data: str) -> bool:
        if connection_id in self.broken:
            raise ConnectionError("unreachable")
        if connection_id in self.gone:
            return False
        self.sent.setdefault(connection_id, []).append(data)
        return True


class Directory:
    def __init__(self, by_user: dict[str, list[str]]) -> None:
        self.by_user = by_user
        self.removed: list[str] = []

    def for_user(self, user_id: str) -> list[str]:
        return self.by_user.get(user_id, [])

    def for_users(self, user_ids) -> dict[str, list[str]]:
        return {user_id: self.for_user(user_id) for user_id in user_ids}

    def forget_gone(self, connection_id: str) -> None:
        self.removed.append(connection_id)


def test_the_fan_out_reaches_only_the_subscribers_connections_and_forgets_gone_ones():
    subscriptions = MemorySubscriptions()
    subscriptions.subscribe("watcher", ["u"], T0 + 600)
    subscriptions.subscribe("late", ["u"], T0 - 1)  # lapsed, not yet deleted by TTL
    posts = Posts(gone={"w2"})
    directory = Directory({"watcher": ["w1", "w2"], "late": ["l1"], "stranger": ["s1"]})
    fanout = PresenceFanout(subscriptions, directory, posts, now=lambda: T0)
    delivered = fanout.publish(change("u", "available", "offline", "1"))
    assert delivered == 1
    assert list(posts.sent) == ["w1"]
    assert '"lastSeen":"2027-01-15T08:00:00.000Z"' in posts.sent["w1"][0]
    assert directory.removed == ["w2"]
