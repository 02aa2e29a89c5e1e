"""Typing: forwarded to others, throttled, expired by a timer, ended by stop; on moto."""

import json

import pytest

from tests.support.seed import make_chat
from tidings.chats.directory import DynamoUserDirectory
from tidings.kernel.errors import Forbidden
from tidings.kernel.ratelimits import DynamoBucketStore, RateLimiter
from tidings.messaging.message_store import DynamoMessageStore
from tidings.messaging.typing_indicators import (
    TYPING_TIMEOUT_SECONDS,
    TypingService,
    TypingTimer,
    typing_ended_by_message,
)
from tidings.messaging.typing_store import DynamoTypingStateStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class RecordingFanout:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict, str | None]] = []

    def to_chat(self, chat_id: str, data: str, *, except_user: str | None = None):
        self.sent.append((chat_id, json.loads(data)["payload"], except_user))


class RecordingTimers:
    def __init__(self) -> None:
        self.scheduled: list[tuple[TypingTimer, int]] = []

    def schedule(self, timer: TypingTimer, delay_seconds: int) -> None:
        self.scheduled.append((timer, delay_seconds))


@pytest.fixture
def world(aws):
    make_chat("project-x", ["alice", "bob", "carol"])
    clock, fanout, timers = Clock(), RecordingFanout(), RecordingTimers()
    service = TypingService(
        DynamoTypingStateStore(),
        DynamoMessageStore(),
        DynamoUserDirectory(),
        RateLimiter(DynamoBucketStore(), clock),
        timers,
        lambda: fanout,
        now=clock,
    )
    return service, clock, fanout, timers


def test_a_start_is_announced_to_the_others_and_arms_a_five_second_timer(world):
    service, clock, fanout, timers = world
    assert service.start("alice", "project-x")
    assert fanout.sent == [
        ("project-x", {"chatId": "project-x", "userId": "alice", "displayName": "Alice", "active": True}, "alice")
    ]
    assert timers.scheduled == [(TypingTimer("project-x", "alice", clock.now), TYPING_TIMEOUT_SECONDS)]


def test_more_than_one_start_a_second_is_dropped(world):
    service, clock, fanout, _ = world
    assert service.start("alice", "project-x")
    clock.now += 0.3
    assert not service.start("alice", "project-x")
    clock.now += 0.8
    assert service.start("alice", "project-x")
    assert len(fanout.sent) == 2


def test_the_timer_ends_typing_when_no_newer_start_came(world):
    service, clock, fanout, timers = world
    service.start("alice", "project-x")
    clock.now += 5
    service.timer_fired(timers.scheduled[0][0])
    assert fanout.sent[-1][1]["active"] is False
    service.timer_fired(timers.scheduled[0][0])  # a duplicate delivery changes nothing
    assert len(fanout.sent) == 2


def test_a_dropped_start_still_pushes_the_deadline_and_the_timer_rearms(world):
    service, clock, fanout, timers = world
    service.start("alice", "project-x")
    clock.now += 0.5
    service.start("alice", "project-x")  # throttled, but alice is still typing
    clock.now += 4.0
    service.timer_fired(timers.scheduled[0][0])
    assert [payload["active"] for _, payload, _ in fanout.sent] == [True], "not expired yet"
    rearmed, delay = timers.scheduled[-1]
    assert rearmed.started_at == pytest.approx(1_000_000.5)
    assert delay == 1
    clock.now += 1
    service.timer_fired(rearmed)
    assert fanout.sent[-1][1]["active"] is False


def test_stop_ends_typing_once(world):
    service, _, fanout, _ = world
    service.start("alice", "project-x")
    assert service.stop("alice", "project-x")
    assert not service.stop("alice", "project-x")
    assert [payload["active"] for _, payload, _ in fanout.sent] == [True, False]


def test_sending_a_message_ends_typing(world):
    service, *_ = world
    service.start("alice", "project-x")
    frame = typing_ended_by_message(DynamoTypingStateStore(), DynamoUserDirectory(), "project-x", "alice")
    assert json.loads(frame)["payload"]["active"] is False
    assert typing_ended_by_message(DynamoTypingStateStore(), DynamoUserDirectory(), "project-x", "alice") is None


def test_a_non_member_may_not_type(world):
    service, *_ = world
    with pytest.raises(Forbidden):
        service.start("dave", "project-x")
