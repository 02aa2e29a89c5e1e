"""Backpressure, through the Delivery consumer (moto, real stream records): a flood of more than
MESSAGES_PER_SECOND messages in one second of a big chat reaches its audience as `chat.summary`
frames, every message stays stored and syncable, and a small chat under the same flood gets
each message.new; with injected 429s a typing frame is shed and the message behind it retried.

The big-chat threshold is lowered to 4 connections here, the rate threshold to 20 messages a
second (tests/unit/test_backpressure.py holds the real 100 to its word), and the senders' own rate
limit lifted, so that a flood with its notifications stays small enough for moto."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from tests.integration.test_fanout_shards import _receive_all
from tests.support.aws import stream_records
from tests.support.events import sqs_event
from tests.support.seed import make_chat
from tests.support.services import typing_state
from tidings.attachments import compose as attachments
from tidings.chats import compose as chats
from tidings.chats.models import MemberModel
from tidings.kernel.environment import environment_of
from tidings.messaging import compose as messaging
from tidings.messaging import summary_mode
from tidings.messaging.declaration import MESSAGE_SEND
from tidings.messaging.models import MessageModel
from tidings.messaging.sending import MessageService, SendMessage
from tidings.messaging.sync_store import DynamoSyncStore
from tidings.notifications.badge_store import DynamoBadgeStore
from tidings.sessions.connection_store import DynamoConnectionStore

AUDIENCE = 6  # members, one connection each
MESSAGES_PER_SECOND = 20
FLOOD = MESSAGES_PER_SECOND + 16
SENDERS = 3


@pytest.fixture(autouse=True)
def lower_rate_threshold(monkeypatch) -> None:
    monkeypatch.setattr(summary_mode, "MESSAGES_PER_SECOND", MESSAGES_PER_SECOND)


@pytest.fixture
def big_chat_threshold(monkeypatch) -> None:
    monkeypatch.setattr(summary_mode, "BIG_CHAT_CONNECTIONS", AUDIENCE - 2)


def _chat(chat_id: str, members: int, chat_type: str = "channel") -> list[str]:
    user_ids = [f"{chat_id}-user-{n:02d}" for n in range(members)]
    make_chat(chat_id, user_ids, chat_type=chat_type)
    store = DynamoConnectionStore()
    for n, user_id in enumerate(user_ids):
        store.add(f"{user_id}-conn", user_id, connected_at_ms=n, token_expires_at=2_000_000_000)
    return user_ids


class Unlimited:
    """A rate limiter that lets every message through (the flood is the point)."""

    def enforce(self, rule: object, *scope: str) -> None:
        pass


def _sender_in(second: float) -> MessageService:
    """message.send as composed, with every message accepted in the same `second`."""
    environment = environment_of(MESSAGE_SEND)
    given = attachments.sent_attachments(environment)
    store = messaging.message_store(environment, given)
    return MessageService(store, chats.user_directory(environment), Unlimited(), now=lambda: second, attachments=given)  # type: ignore[arg-type]


def _flood(chat_id: str, user_ids: list[str], second: float, mention: str | None = None) -> None:
    sender = _sender_in(second)
    for n in range(FLOOD):
        content = f"flood {n}" if mention is None or n != FLOOD - 1 else f"flood {n} @{mention}"
        user_id = user_ids[n % SENDERS]
        sender.send(user_id, SendMessage(request_id=f"{chat_id}-{n}", chat_id=chat_id, content=content))


def _frames(connections, connection_id: str, frame_type: str) -> list[dict]:
    frames = [json.loads(data) for data in connections.sent.get(connection_id, [])]
    return [frame for frame in frames if frame["type"] == frame_type]


def test_a_flooded_big_chat_gets_a_summary_and_every_message_stays_stored_and_syncable(
    functions, context, connections, big_chat_threshold
):
    user_ids = _chat("town-hall", AUDIENCE)
    listener, mentioned = user_ids[-1], user_ids[-2]  # neither sends
    _flood("town-hall", user_ids, float(int(time.time())), mention=mentioned)

    response = functions["delivery"].handler({"Records": stream_records(MessageModel.Meta.table_name)}, context)

    assert response == {"batchItemFailures": []}
    # The first MESSAGES_PER_SECOND messages one by one, the rest in one summary.
    news = _frames(connections, f"{listener}-conn", "message.new")
    assert [frame["payload"]["seq"] for frame in news] == list(range(1, MESSAGES_PER_SECOND + 1))
    [summary] = _frames(connections, f"{listener}-conn", "chat.summary")
    assert summary["payload"] == {"chatId": "town-hall", "newMessages": FLOOD - MESSAGES_PER_SECOND, "lastSeq": FLOOD}
    summaries = Counter(c for c in connections.sent for _ in _frames(connections, c, "chat.summary"))
    assert summaries == Counter({f"{user_id}-conn": 1 for user_id in user_ids}), "one summary to every connection"
    # The mentioned user still gets the message that names them, and each sender their own.
    assert _frames(connections, f"{mentioned}-conn", "message.new")[-1]["payload"]["seq"] == FLOOD
    own = [f["payload"]["seq"] for f in _frames(connections, f"{user_ids[0]}-conn", "message.new")]
    assert own[-2:] == [FLOOD - 5, FLOOD - 2]  # user 0 sent every 3rd message: both past the threshold
    # Every message is stored, and a sync from the last message.new gets the rest in order.
    page = DynamoSyncStore().events_after("town-hall", MESSAGES_PER_SECOND, 100)
    assert [event.seq for event in page.events] == list(range(MESSAGES_PER_SECOND + 1, FLOOD + 1))
    assert not page.has_more


def test_a_flooded_big_chats_summarised_messages_are_counted_in_quiet_shards_that_post_nothing(
    functions, context, connections, big_chat_threshold
):
    user_ids = _chat("town-hall", AUDIENCE)
    listener, mentioned = user_ids[-1], user_ids[-2]
    _flood("town-hall", user_ids, float(int(time.time())), mention=mentioned)
    assert functions["delivery"].handler({"Records": stream_records(MessageModel.Meta.table_name)}, context) == {
        "batchItemFailures": []
    }
    badges = _frames(connections, f"{listener}-conn", "notification.badge")
    assert len(badges) == MESSAGES_PER_SECOND, "a badge frame for each message posted, none for the summarised"
    [told] = [
        f
        for f in _frames(connections, f"{mentioned}-conn", "notification.badge")
        if f["payload"]["unreadCount"] > MESSAGES_PER_SECOND
    ]
    assert told["payload"]["mentionCount"] == 1, "whom the message names is told, with the mention counted"

    shards = _receive_all("FANOUT_SHARDS_QUEUE_URL")
    bodies = [json.loads(shard["Body"]) for shard in shards]
    assert {body["quiet"] for body in bodies} == {True}
    assert len(bodies) == FLOOD - MESSAGES_PER_SECOND, "one quiet shard per summarised message (a small audience)"
    sent_before = {c: len(frames) for c, frames in connections.sent.items()}
    for shard in shards:
        assert functions["fanout_worker"].handler(sqs_event([shard["Body"]]), context) == {"batchItemFailures": []}

    assert {c: len(frames) for c, frames in connections.sent.items()} == sent_before, "the quiet shards post nothing"
    listener_member = MemberModel.get("town-hall", listener)
    assert int(listener_member.unread_count) == FLOOD, "every message counted in the listener's badge"
    # What the chat.summary prompts: a sync, whose response carries the stored badges.
    [badge] = DynamoBadgeStore().current(listener, ["town-hall"])
    assert badge.unread_count == FLOOD


def test_a_small_chat_under_the_same_flood_gets_every_message_one_by_one(
    functions, context, connections, big_chat_threshold
):
    user_ids = _chat("small-group", AUDIENCE - 2, chat_type="group")  # at the threshold: not big
    _flood("small-group", user_ids, float(int(time.time())))

    assert functions["delivery"].handler({"Records": stream_records(MessageModel.Meta.table_name)}, context) == {
        "batchItemFailures": []
    }

    for user_id in user_ids:
        news = _frames(connections, f"{user_id}-conn", "message.new")
        assert [frame["payload"]["seq"] for frame in news] == list(range(1, FLOOD + 1))
        assert _frames(connections, f"{user_id}-conn", "chat.summary") == []


def test_a_throttled_connection_is_owed_the_message_but_not_the_typing_frame_before_it(functions, context, connections):
    user_ids = _chat("project-x", 3, chat_type="group")
    typer, throttled = user_ids[0], user_ids[1]
    typing_state().mark_typing("project-x", typer, at=time.time())
    connections.throttled.add(f"{throttled}-conn")
    _sender_in(time.time()).send(typer, SendMessage(request_id="r1", chat_id="project-x", content="done typing"))

    assert functions["delivery"].handler({"Records": stream_records(MessageModel.Meta.table_name)}, context) == {
        "batchItemFailures": []
    }

    # The connection that was not throttled got both, typing off first.
    got = [json.loads(frame)["type"] for frame in connections.sent[f"{user_ids[2]}-conn"]]
    assert got[:2] == ["typing.indicator", "message.new"]
    jobs = [json.loads(retry["Body"]) for retry in _receive_all("DELIVERY_RETRIES_QUEUE_URL")]
    # One job: the message, then its notification frames (protocol v1), in the one delivery.
    [job] = jobs
    assert job["connectionIds"] == [f"{throttled}-conn"]
    assert [json.loads(frame)["type"] for frame in job["frames"]] == [
        "message.new",
        "notification.badge",
        "notification.toast",
    ]
