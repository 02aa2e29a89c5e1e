"""Backpressure in the delivery loop: under throttling (429) the ephemeral frames are shed,
typing first (never retried), then presence (retried once), and message frames keep every
retry; and the summary window's bookkeeping (docs/architecture.md "Backpressure")."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.unit.test_fanout import Directory, Poster, Retries
from tidings.kernel.connections_api import MAX_ATTEMPTS, Deliveries, DeliveryFailed, PostFailed, Redelivery
from tidings.messaging import summary_mode
from tidings.messaging.summary_mode import MESSAGES_PER_SECOND, SummaryWindow, still_told
from tidings.presence.presence_fanout import PresenceFanout, StatusChange


def _frame(frame_type: str, n: int = 0) -> str:
    return json.dumps({"type": frame_type, "id": f"{frame_type}-{n}", "payload": {}})


TYPING, PRESENCE, MESSAGE = _frame("typing.indicator"), _frame("presence.changed"), _frame("message.new")


def _throttle() -> PostFailed:
    return PostFailed("PostToConnection failed: 429 LimitExceededException", retryable=True, throttled=True)


def test_a_throttled_typing_frame_is_shed_and_the_message_behind_it_retried() -> None:
    poster, retries = Poster(), Retries()
    poster.failing["b1"] = (0, _throttle())

    targets = [("a1", [TYPING, MESSAGE]), ("b1", [TYPING, MESSAGE])]
    report = Deliveries(poster, Directory({}, {}), retries).deliver(targets)

    assert poster.sent == {"a1": [TYPING, MESSAGE]}
    [(job, _delay)] = retries.scheduled
    assert (job.connection_ids, job.frames, job.attempt) == (("b1",), (MESSAGE,), 2)
    assert report.shed == {"typing": 1}
    assert (report.retrying, report.throttled) == (1, 1)


def test_a_throttled_typing_indicator_alone_is_dropped_not_retried() -> None:
    poster, retries = Poster(), Retries()
    poster.failing["b1"] = (0, _throttle())

    report = Deliveries(poster, Directory({}, {}), retries).deliver([("b1", [TYPING])])

    assert retries.scheduled == []
    assert (report.shed, report.retrying, report.given_up) == ({"typing": 1}, 0, 0)


def test_a_presence_frame_is_retried_once_then_shed_while_a_message_keeps_every_retry() -> None:
    poster, retries = Poster(), Retries()
    poster.failing["b1"] = (0, _throttle())
    deliveries = Deliveries(poster, Directory({}, {}), retries)

    first = deliveries.deliver([("b1", [PRESENCE, MESSAGE])])
    [(retry, _)] = retries.scheduled
    second = deliveries.redeliver(retry)

    assert retry.frames == (PRESENCE, MESSAGE) and first.shed == {}
    assert second.shed == {"presence": 1}
    assert [job.frames for job, _ in retries.scheduled] == [(PRESENCE, MESSAGE), (MESSAGE,)]
    for attempt in range(3, MAX_ATTEMPTS + 1):
        last = deliveries.redeliver(Redelivery(("b1",), (MESSAGE,), attempt))
        assert last.shed == {}
    assert last.given_up == 1  # only after its last attempt, as before


def _presence(poster: Poster) -> PresenceFanout:
    class Subscriptions:
        def subscribers_of(self, user_id: str, now: float) -> list[str]:
            return ["bob", "carol"]

    directory = Directory({}, {"bob": ["b1"], "carol": ["c1"]})
    return PresenceFanout(Subscriptions(), directory, poster, now=lambda: 1_000.0)  # type: ignore[arg-type]


CHANGE = StatusChange("alice", "offline", "available", None, "record-1")


class ThrottledTimes(Poster):
    """Throttles `connection`'s first `times` posts, then lets them through."""

    def __init__(self, connection: str, times: int) -> None:
        super().__init__()
        self.left = {connection: times}

    def post(self, connection_id: str, data: str) -> bool:
        if self.left.get(connection_id, 0) > 0:
            self.left[connection_id] -= 1
            raise _throttle()
        return super().post(connection_id, data)


def test_a_throttled_presence_change_is_posted_once_more_and_the_record_succeeds() -> None:
    poster = ThrottledTimes("b1", 1)

    assert _presence(poster).publish(CHANGE) == 2
    assert [json.loads(f)["type"] for f in poster.sent["b1"]] == ["presence.changed"]


def test_a_presence_change_throttled_twice_is_shed_without_failing_the_record() -> None:
    poster = ThrottledTimes("b1", 2)

    assert _presence(poster).publish(CHANGE) == 1  # no DeliveryFailed: the record is not posted again
    assert "b1" not in poster.sent and "c1" in poster.sent


def test_a_presence_change_that_fails_otherwise_still_fails_its_record() -> None:
    poster = Poster()
    poster.failing["b1"] = (0, PostFailed("500", retryable=True))

    with pytest.raises(DeliveryFailed):
        _presence(poster).publish(CHANGE)


def test_a_record_failing_delivery_sheds_only_ephemeral_frames_a_message_still_fails_it() -> None:
    """The on-the-spot retry of `fail_record` is shedding for presence and typing only: a
    message frame still refused after it fails the record, as it did before shedding existed."""
    poster = ThrottledTimes("b1", 2)
    deliveries = Deliveries(poster, Directory({}, {}), None, fail_record=True)

    with pytest.raises(DeliveryFailed):
        deliveries.deliver([("b1", [PRESENCE, MESSAGE])])
    assert "b1" not in poster.sent


class Rates:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}

    def count(self, chat_id: str, second: int) -> int:
        self.counts[(chat_id, second)] = self.counts.get((chat_id, second), 0) + 1
        return self.counts[(chat_id, second)]


def test_only_a_big_chat_beyond_the_rate_is_summarised_and_a_small_one_is_not_counted(monkeypatch) -> None:
    monkeypatch.setattr(summary_mode, "BIG_CHAT_CONNECTIONS", 2)
    rates, window = Rates(), SummaryWindow()
    big = {"a": ["a1", "a2"], "b": ["b1"]}
    small = {"a": ["a1"], "b": ["b1"]}
    second = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)

    verdicts = [window.summarises(rates, "big", second, big) for _ in range(MESSAGES_PER_SECOND + 2)]
    assert verdicts == [False] * MESSAGES_PER_SECOND + [True, True]
    assert not any(window.summarises(rates, "small", second, small) for _ in range(MESSAGES_PER_SECOND + 2))
    assert ("small", int(second.timestamp())) not in rates.counts
    # The next second starts again from zero.
    assert not window.summarises(rates, "big", second.replace(second=1), big)


def test_the_window_gives_one_summary_per_chat_with_its_count_and_last_seq() -> None:
    window = SummaryWindow()
    assert not window
    for seq in (101, 103, 102):
        window.add("town-hall", seq, {"a": ["a1"]})
    window.add("lobby", 7, {"b": ["b1"]})

    summaries = {json.loads(data)["payload"]["chatId"]: (json.loads(data), count) for data, _, count in window.frames()}

    frame, count = summaries["town-hall"]
    assert (frame["type"], frame["payload"], count) == (
        "chat.summary",
        {"chatId": "town-hall", "newMessages": 3, "lastSeq": 103},
        3,
    )
    assert summaries["lobby"][0]["payload"] == {"chatId": "lobby", "newMessages": 1, "lastSeq": 7}


def test_the_sender_and_users_mentioned_by_name_are_still_told_but_not_at_channel() -> None:
    message = {"senderId": "alice", "mentions": ["bob", "@channel", "@here"]}

    assert still_told(message) == {"alice", "bob"}
