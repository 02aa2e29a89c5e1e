"""Token timers: when each timer is due, what it does, and how it chains past SQS's 15 minutes."""

import pytest

from tests.support.session_fakes import Clock, RecordingPoster, RecordingQueue
from tidings.sessions.connection_store import DynamoConnectionStore
from tidings.sessions.connections import CloseOutcome, ConnectionState, PendingClose
from tidings.sessions.records import token_timer_body, token_timer_from_body
from tidings.sessions.token_expiry import (
    MAX_DELAY_SECONDS,
    REFRESH_LEAD_SECONDS,
    Action,
    TokenTimer,
    TokenTimerService,
    decide,
    delay_until,
)

NOW = 1_800_000_000
EXP = NOW + 3600


def state(token_expires_at=EXP, connected_at_ms=(NOW - 600) * 1000):
    return ConnectionState("c1", "alice", connected_at_ms, token_expires_at)


def test_the_refresh_is_due_between_60_and_70_seconds_before_the_expiry():
    assert 60 <= REFRESH_LEAD_SECONDS <= 70


@pytest.mark.parametrize(
    ("timer", "connection", "now", "action"),
    [
        pytest.param(TokenTimer("refresh", "c1", EXP, EXP - 70), None, EXP - 70, Action.DROP, id="connection gone"),
        pytest.param(TokenTimer("refresh", "c1", EXP, EXP - 70), state(EXP + 900), EXP - 70, Action.DROP, id="renewed"),
        pytest.param(TokenTimer("expire", "c1", EXP, EXP), state(EXP + 900), EXP + 5, Action.DROP, id="renewed expire"),
        pytest.param(TokenTimer("refresh", "c1", EXP, EXP - 70), state(), EXP - 71, Action.WAIT, id="refresh early"),
        pytest.param(TokenTimer("refresh", "c1", EXP, EXP - 70), state(), EXP - 70, Action.REFRESH, id="refresh due"),
        pytest.param(TokenTimer("refresh", "c1", EXP, EXP - 70), state(), EXP - 30, Action.REFRESH, id="refresh late"),
        pytest.param(TokenTimer("refresh", "c1", EXP, EXP - 70), state(), EXP, Action.EXPIRE, id="refresh too late"),
        pytest.param(TokenTimer("expire", "c1", EXP, EXP), state(), EXP - 1, Action.WAIT, id="expire early"),
        pytest.param(TokenTimer("expire", "c1", EXP, EXP), state(), EXP, Action.EXPIRE, id="expire due"),
    ],
)
def test_decide(timer, connection, now, action):
    assert decide(timer, connection, now) == action


def test_delays_round_up_and_are_capped_at_the_sqs_maximum():
    assert delay_until(NOW + 10, NOW + 0.2) == 10  # never early
    assert delay_until(NOW + 10, NOW) == 10
    assert delay_until(NOW, NOW + 5) == 0
    assert delay_until(NOW, NOW, min_delay_seconds=1) == 1
    assert delay_until(NOW + 3600, NOW) == MAX_DELAY_SECONDS == 900


@pytest.fixture
def parts(aws):
    clock = Clock(NOW)
    queue = RecordingQueue()
    poster = RecordingPoster()
    store = DynamoConnectionStore()
    return clock, queue, poster, store, TokenTimerService(store, queue, poster, clock)


def test_arming_schedules_the_refresh_70_seconds_before_the_expiry(parts):
    _, queue, _, _, timers = parts
    timers.arm("c1", NOW + 600)
    assert queue.scheduled == [(TokenTimer("refresh", "c1", NOW + 600, NOW + 530), 530)]


def test_a_token_that_expires_within_the_lead_is_refreshed_at_once_but_not_before_the_handshake(parts):
    _, queue, _, _, timers = parts
    timers.arm("c1", NOW + 30, min_delay_seconds=1)
    assert queue.scheduled == [(TokenTimer("refresh", "c1", NOW + 30, NOW - 40), 1)]


def test_a_timer_that_is_not_due_re_enqueues_itself_for_the_remainder_chaining_past_15_minutes(parts):
    clock, queue, poster, store, timers = parts
    store.add("c1", "alice", (NOW - 10) * 1000, NOW + 3600)
    timer = timers.arm("c1", NOW + 3600)
    assert queue.scheduled[-1] == (timer, 900)

    clock.now = NOW + 900
    assert timers.fire(timer) == Action.WAIT
    assert queue.scheduled[-1] == (timer, 900)

    clock.now = NOW + 2700
    assert timers.fire(timer) == Action.WAIT
    assert queue.scheduled[-1] == (timer, 3530 - 2700)
    assert poster.calls == []


def test_a_due_refresh_sends_token_refresh_and_arms_the_expiry(parts):
    clock, queue, poster, store, timers = parts
    store.add("c1", "alice", (NOW - 10) * 1000, NOW + 600)
    clock.now = NOW + 531
    assert timers.fire(TokenTimer("refresh", "c1", NOW + 600, NOW + 530)) == Action.REFRESH
    [frame] = poster.frames("c1")
    assert frame["type"] == "token.refresh"
    assert frame["payload"] == {"expiresAt": "2027-01-15T08:10:00.000Z"}
    assert queue.scheduled == [(TokenTimer("expire", "c1", NOW + 600, NOW + 600), 69)]
    assert poster.closed() == []


def test_a_due_expiry_sends_unauthorized_then_closes_and_forgets_the_connection(parts):
    clock, _, poster, store, timers = parts
    store.add("c1", "alice", (NOW - 10) * 1000, NOW + 600)
    clock.now = NOW + 600
    assert timers.fire(TokenTimer("expire", "c1", NOW + 600, NOW + 600)) == Action.EXPIRE
    assert [call[0] for call in poster.calls] == ["post", "close"]
    assert poster.calls[0][2]["type"] == "error"
    assert poster.calls[0][2]["payload"]["code"] == "UNAUTHORIZED"
    assert store.get("c1") is None


def test_a_renewed_connection_ignores_the_old_timers(parts):
    clock, queue, poster, store, timers = parts
    store.add("c1", "alice", (NOW - 10) * 1000, NOW + 600)
    assert store.extend_token("c1", NOW + 1500)
    clock.now = NOW + 600
    assert timers.fire(TokenTimer("expire", "c1", NOW + 600, NOW + 600)) == Action.DROP
    assert poster.calls == [] and queue.scheduled == []
    assert store.get("c1") is not None


def test_a_connection_still_completing_its_handshake_is_tried_again_a_second_later(parts):
    clock, queue, poster, store, timers = parts
    store.add("c1", "alice", NOW * 1000, NOW + 30)
    poster.gone.add("c1")
    timer = TokenTimer("refresh", "c1", NOW + 30, NOW - 40)
    clock.now = NOW + 1
    assert timers.fire(timer) == Action.WAIT
    assert queue.scheduled == [(timer, 1)]
    assert store.get("c1") is not None


def test_a_connection_that_is_gone_for_good_is_forgotten(parts):
    clock, queue, poster, store, timers = parts
    store.add("c1", "alice", NOW * 1000, NOW + 600)
    poster.gone.add("c1")
    clock.now = NOW + 535
    assert timers.fire(TokenTimer("refresh", "c1", NOW + 600, NOW + 530)) == Action.DROP
    assert queue.scheduled == []
    assert store.get("c1") is None


def test_an_unreachable_connection_fails_the_timer_so_the_queue_redelivers_it(parts):
    clock, _, poster, store, timers = parts
    store.add("c1", "alice", NOW * 1000, NOW + 600)
    poster.broken.add("c1")
    clock.now = NOW + 600
    with pytest.raises(ConnectionError):
        timers.fire(TokenTimer("expire", "c1", NOW + 600, NOW + 600))
    assert store.get("c1") is not None, "kept, so the retry finds the connection again"


def test_timers_and_pending_closes_round_trip_through_the_queue_body():
    for timer in (TokenTimer("refresh", "c1", EXP, EXP - 70), PendingClose("c1", '{"type": "error"}')):
        assert token_timer_from_body(token_timer_body(timer)) == timer


def test_a_pending_close_that_arrives_after_the_handshake_posts_the_reason_then_closes(parts):
    clock, queue, poster, store, timers = parts
    store.add("c1", "alice", NOW * 1000, NOW + 600)
    poster.connecting.add("c1")
    close = PendingClose("c1", '{"type": "error", "payload": {"code": "CONNECTION_LIMIT"}}')
    assert timers.fire(close) == CloseOutcome.DEFERRED
    assert queue.scheduled == [(close, 1)] and store.get("c1") is not None

    poster.connecting.discard("c1")
    clock.now = NOW + 1
    assert timers.fire(close) == CloseOutcome.CLOSED
    assert [call[0] for call in poster.calls] == ["post", "close"]
    assert store.get("c1") is None
    assert store.user_connections("alice") == []
