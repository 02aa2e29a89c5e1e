"""The retention sweep: the hourly schedule's function, driven by EventBridge's Scheduled Event
on moto. Messages older than their chat's `retentionDays` (or the deployment's default) are
deleted through the normal delete path; younger ones, and chats without a retention, are kept."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.lambdas import LambdaContext, load_function
from tests.support.seed import make_chat
from tests.support.services import chat_event_service, message_service
from tidings.chats.models import ChatModel
from tidings.kernel.environment import ColdStart
from tidings.kernel.wire import iso
from tidings.messaging.models import MessageModel
from tidings.messaging.sending import SendMessage

DAY = 86_400


@pytest.fixture(scope="module")
def sweep():
    return load_function("messaging/retention_sweep.py")


def scheduled(at: float) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/tidings-RetentionSweepHourly"],
        "detail": {},
    }


def run(sweep, at: float | None = None, remaining_ms: int = 300_000) -> dict[str, Any]:
    result: dict[str, Any] = sweep.handler(
        scheduled(time.time() if at is None else at), LambdaContext(remaining_ms=remaining_ms)
    )
    return result


def send(chat_id: str, content: str, *, age_days: float = 0) -> int:
    """A message sent `age_days` ago (its stored `createdAt` set back, as if it had been)."""
    message = message_service().send("alice", SendMessage(request_id=content, chat_id=chat_id, content=content))
    if age_days:
        MessageModel(chat_id, message.seq).update(
            actions=[MessageModel.created_at.set(iso(time.time() - age_days * DAY))]
        )
    return message.seq


def item(chat_id: str, seq: int) -> MessageModel:
    return MessageModel.get(chat_id, seq, consistent_read=True)


def set_retention(chat_id: str, days: int) -> None:
    ChatModel(chat_id).update(actions=[ChatModel.retention_days.set(days)])


def delete_events(chat_id: str) -> list[int]:
    return [int(i.target_seq) for i in MessageModel.query(chat_id) if i.kind == "delete"]


@pytest.fixture
def chats(connections, frozen_rate_limits) -> None:
    make_chat("project-x", ["alice", "bob"], admins=("alice",))
    make_chat("watercooler", ["alice", "bob"])


def test_a_chat_s_old_messages_are_deleted_through_the_delete_path_and_young_ones_kept(sweep, chats) -> None:
    set_retention("project-x", 30)
    old = [send("project-x", "old one", age_days=45), send("project-x", "old two", age_days=31)]
    young = send("project-x", "young", age_days=29)
    elsewhere = send("watercooler", "no retention here", age_days=400)

    assert run(sweep) == {"chats": 1, "deleted": 2, "finished": True}

    for seq in old:
        gone = item("project-x", seq)
        assert gone.deleted and gone.content is None
        assert gone.sender_name == "Alice"  # a delete, not an erasure: the tombstone keeps the name
    assert sorted(delete_events("project-x")) == old  # each a `delete` chat event: members and sync follow
    assert item("project-x", young).content == "young"
    assert item("watercooler", elsewhere).content == "no retention here"


def test_a_second_run_reads_on_from_where_the_first_stopped(sweep, chats) -> None:
    set_retention("project-x", 30)
    send("project-x", "old", age_days=40)
    young = send("project-x", "young", age_days=1)
    assert run(sweep)["deleted"] == 1
    mark = int(ChatModel.get("project-x").retention_swept_seq)
    assert mark == young - 1  # everything before the first young message has been looked at

    assert run(sweep)["deleted"] == 0
    later = run(sweep, at=time.time() + 30 * DAY)  # a month on, the young one has expired too
    assert later["deleted"] == 1
    assert item("project-x", young).deleted


def test_the_deployment_default_applies_where_a_chat_sets_none(sweep, chats, monkeypatch) -> None:
    monkeypatch.setenv("RETENTION_DAYS", "7")
    ColdStart.forget_all()
    set_retention("project-x", 365)  # the chat's own wins
    kept = send("project-x", "a month old", age_days=30)
    swept = send("watercooler", "a month old", age_days=30)

    assert run(sweep) == {"chats": 2, "deleted": 1, "finished": True}
    assert item("watercooler", swept).deleted
    assert not item("project-x", kept).deleted


def test_the_cutoff_counts_from_the_schedule_s_time(sweep, chats) -> None:
    set_retention("project-x", 1)
    seq = send("project-x", "just now")
    assert run(sweep)["deleted"] == 0
    assert run(sweep, at=time.time() + 2 * DAY)["deleted"] == 1
    assert item("project-x", seq).deleted


def test_a_run_out_of_time_stops_and_the_next_one_carries_on(sweep, chats) -> None:
    set_retention("project-x", 30)
    seq = send("project-x", "old", age_days=40)
    assert run(sweep, remaining_ms=1_000) == {"chats": 0, "deleted": 0, "finished": False}
    assert not item("project-x", seq).deleted
    assert run(sweep)["deleted"] == 1


def test_a_message_already_deleted_is_not_deleted_again(sweep, chats) -> None:
    set_retention("project-x", 30)
    seq = send("project-x", "old", age_days=40)
    message_id = item("project-x", seq).message_id
    chat_event_service().delete("alice", "delete-1", message_id)
    assert run(sweep)["deleted"] == 0
    assert delete_events("project-x") == [seq]  # the sender's own delete, and no second one


def test_a_chat_read_in_many_pages_is_swept_to_its_first_young_message(chats) -> None:
    from tidings.attachments import compose as attachments
    from tidings.chats.membership import PLATFORM
    from tidings.kernel.environment import environment_of
    from tidings.messaging import compose as messaging
    from tidings.messaging.declaration import RETENTION_SWEEP

    set_retention("project-x", 30)
    old = [send("project-x", f"old {n}", age_days=40 - n) for n in range(5)]
    young = send("project-x", "young", age_days=1)
    environment = environment_of(RETENTION_SWEEP)
    sweep = messaging.retention_sweep(
        environment,
        actor_id=PLATFORM.actor_id,
        actor_name=PLATFORM.actor_name,
        attachments=attachments.sent_attachments(environment),
    )
    sweep = dataclasses.replace(sweep, page_size=2)

    report = sweep.run(time.time(), has_time=lambda: True)
    assert (report.deleted, report.finished) == (5, True)
    assert all(item("project-x", seq).deleted for seq in old)
    assert not item("project-x", young).deleted
