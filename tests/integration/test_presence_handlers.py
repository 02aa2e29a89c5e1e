"""Presence handlers driven by AWS-shaped events on moto: $connect/$disconnect, the presence
frames, the timer consumer, the Presence stream consumer, sync, and degraded mode."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from tests.support.aws import stream_records
from tests.support.events import client_frame, connect_event, disconnect_event, message_event, sqs_event
from tests.support.lambdas import load_function
from tests.support.seed import make_chat
from tests.support.services import presence_store
from tidings.kernel.environment import ColdStart
from tidings.presence.machine import ApplyTimer, IdleTimer
from tidings.presence.models import PresenceModel
from tidings.presence.presence_store import DynamoPresenceSubscriptions
from tidings.presence.records import presence_timer_body, presence_timer_from_body
from tidings.sessions.models import ConnectionModel


@pytest.fixture(scope="module")
def handlers():
    return {
        name: load_function(path)
        for name, path in {
            "connect": "sessions/connect.py",
            "disconnect": "sessions/disconnect.py",
            "frames": "presence/presence_frames.py",
            "timers": "presence/presence_timers.py",
            "changes": "presence/changes_consumer.py",
            "sync": "messaging/sync_request.py",
            "send": "messaging/message_send.py",
            "session": "sessions/session_frames.py",
        }.items()
    }


@pytest.fixture
def timers_queue(connections, monkeypatch):
    url = boto3.client("sqs").create_queue(QueueName="presence-timers")["QueueUrl"]
    monkeypatch.setenv("PRESENCE_TIMERS_QUEUE_URL", url)
    monkeypatch.setenv("PRESENCE_IDLE_SECONDS", "60")
    ColdStart.forget_all()
    yield url
    ColdStart.forget_all()


@pytest.fixture
def team(connections):
    """A chat of the users these tests watch each other in: presence is visible only to those
    who share a chat."""
    make_chat("team", ["alice", "bob", "carol", "zed"])


def armed_timers(queue_url: str) -> list:
    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    return [None] * int(attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"])


def connect(handlers, context, connection_id, user):
    assert handlers["connect"].handler(connect_event(connection_id, user), context) == {"statusCode": 200}


def disconnect(handlers, context, connection_id):
    assert handlers["disconnect"].handler(disconnect_event(connection_id), context) == {"statusCode": 200}


def frame(handlers, context, connection_id, user, frame_type, payload):
    body = client_frame(frame_type, payload)
    response = handlers["frames"].handler(message_event(connection_id, user, body, frame_type), context)
    assert response["statusCode"] == 200
    return body["id"], (json.loads(response["body"]) if "body" in response else None)


def sent(connections, connection_id):
    return [json.loads(data) for data in connections.sent.get(connection_id, [])]


def changed(connections, connection_id):
    return [f["payload"] for f in sent(connections, connection_id) if f["type"] == "presence.changed"]


def deliver_stream(handlers, context, since: int = 0) -> int:
    """Runs the Presence stream consumer over the records after the first `since`, as one batch
    (what a 2 s batching window gathers). Returns how many records there are now."""
    records = stream_records(PresenceModel.Meta.table_name)
    response = handlers["changes"].handler({"Records": records[since:]}, context)
    assert response == {"batchItemFailures": []}
    return len(records)


def test_the_first_connection_is_available_the_last_close_is_offline(handlers, context, timers_queue):
    connect(handlers, context, "a-1", "alice")
    assert presence_store().status_of("alice") == "available"
    assert len(armed_timers(timers_queue)) == 1, "the idle chain of this online period"
    connect(handlers, context, "a-2", "alice")
    assert len(armed_timers(timers_queue)) == 1, "a second session starts no second chain"

    disconnect(handlers, context, "a-1")  # the test event carries no authorizer: looked up
    assert presence_store().status_of("alice") == "available"
    disconnect(handlers, context, "a-2")
    item = PresenceModel.get("alice")
    assert item.status == "offline" and item.last_seen is not None
    assert presence_store().status_of("nobody") == "offline"


def test_subscribe_acks_then_sends_the_snapshot(handlers, context, connections, timers_queue, team):
    connect(handlers, context, "a-1", "alice")
    connect(handlers, context, "b-1", "bob")
    frame_id, reply = frame(handlers, context, "b-1", "bob", "presence.subscribe", {"userIds": ["alice", "zed"]})
    assert reply is None, "the ack travels through @connections, ahead of the snapshot"
    frames = sent(connections, "b-1")
    assert frames[0]["type"] == "ack" and frames[0]["payload"] == {"refId": frame_id, "status": "ok"}
    assert [f["payload"] for f in frames[1:]] == [
        {"userId": "alice", "status": "available"},
        {"userId": "zed", "status": "offline"},
    ]


def test_presence_subscribe_is_rate_limited_to_5_per_10_seconds(
    handlers, context, connections, timers_queue, team, frozen_rate_limits
):
    connect(handlers, context, "b-1", "bob")
    replies = [frame(handlers, context, "b-1", "bob", "presence.subscribe", {"userIds": ["alice"]}) for _ in range(6)]
    assert [reply for _, reply in replies[:5]] == [None] * 5, "acked through @connections"
    limited = replies[5][1]["payload"]
    assert limited["refId"] == replies[5][0]
    assert limited["error"]["code"] == "RATE_LIMITED" and limited["error"]["retryAfterMs"] > 0


def test_bad_presence_frames_get_bad_frame_acks(handlers, context, connections, timers_queue):
    users = [f"user-{index}" for index in range(101)]
    _, too_many = frame(handlers, context, "b-1", "bob", "presence.subscribe", {"userIds": users})
    assert too_many["payload"]["error"]["code"] == "BAD_FRAME"
    _, empty = frame(handlers, context, "b-1", "bob", "presence.unsubscribe", {"userIds": []})
    assert empty["payload"]["error"]["code"] == "BAD_FRAME"
    _, unknown = frame(handlers, context, "b-1", "bob", "presence.update", {"status": "busy"})
    assert unknown["payload"]["error"]["code"] == "BAD_FRAME"


def test_the_stream_consumer_sends_each_changed_users_final_status_to_subscribers_only(
    handlers, context, connections, timers_queue, team
):
    connect(handlers, context, "b-1", "bob")
    connect(handlers, context, "c-1", "carol")
    frame(handlers, context, "b-1", "bob", "presence.subscribe", {"userIds": ["alice"]})
    connections.sent.clear()
    seen = len(stream_records(PresenceModel.Meta.table_name))

    for round_ in range(3):  # alice flaps within one batching window, ending online
        connect(handlers, context, f"a-{round_}", "alice")
        disconnect(handlers, context, f"a-{round_}")
    connect(handlers, context, "a-final", "alice")
    deliver_stream(handlers, context, since=seen)

    assert changed(connections, "b-1") == [{"userId": "alice", "status": "available"}]
    assert changed(connections, "c-1") == [], "carol did not subscribe"


def test_offline_carries_last_seen_and_gone_subscriber_connections_are_forgotten(
    handlers, context, connections, timers_queue, team
):
    connect(handlers, context, "a-1", "alice")
    connect(handlers, context, "b-1", "bob")
    connect(handlers, context, "b-2", "bob")
    frame(handlers, context, "b-1", "bob", "presence.subscribe", {"userIds": ["alice"]})
    connections.sent.clear()
    seen = len(stream_records(PresenceModel.Meta.table_name))
    connections.gone.add("b-2")
    # Connected long enough ago that its 410 is not a handshake still completing.
    ConnectionModel("b-2").update(actions=[ConnectionModel.connected_at.set(1)])
    disconnect(handlers, context, "a-1")
    deliver_stream(handlers, context, since=seen)
    [offline] = changed(connections, "b-1")
    assert offline["status"] == "offline" and offline["lastSeen"].endswith("Z")
    with pytest.raises(ConnectionModel.DoesNotExist):
        ConnectionModel.get("b-2")


def test_unsubscribe_stops_the_changes(handlers, context, connections, timers_queue):
    connect(handlers, context, "b-1", "bob")
    frame(handlers, context, "b-1", "bob", "presence.subscribe", {"userIds": ["alice"]})
    _, ack = frame(handlers, context, "b-1", "bob", "presence.unsubscribe", {"userIds": ["alice"]})
    assert ack["payload"]["status"] == "ok"
    connections.sent.clear()
    seen = len(stream_records(PresenceModel.Meta.table_name))
    connect(handlers, context, "a-1", "alice")
    deliver_stream(handlers, context, since=seen)
    assert changed(connections, "b-1") == []


def test_updates_are_coalesced_and_the_timer_applies_the_last(handlers, context, connections, timers_queue):
    connect(handlers, context, "a-1", "alice")
    _, first = frame(handlers, context, "a-1", "alice", "presence.update", {"status": "dnd"})
    _, second = frame(handlers, context, "a-1", "alice", "presence.update", {"status": "brb"})
    _, third = frame(handlers, context, "a-1", "alice", "presence.update", {"status": "in_a_meeting"})
    assert [r["payload"]["coalesced"] for r in (first, second, third)] == [False, True, True]
    assert presence_store().status_of("alice") == "dnd"

    # The apply timer, once the interval is over (moved back in time instead of waiting).
    PresenceModel("alice").update(actions=[PresenceModel.applied_at.set(1.0)])
    response = handlers["timers"].handler(sqs_event([presence_timer_body(ApplyTimer("alice"))]), context)
    assert response == {"batchItemFailures": []}
    assert presence_store().status_of("alice") == "in_a_meeting"


def test_the_idle_timer_makes_the_user_away_and_activity_brings_them_back(handlers, context, timers_queue, monkeypatch):
    # An idle time far shorter than this test takes, so the message counts as new activity.
    monkeypatch.setenv("PRESENCE_IDLE_SECONDS", "0.001")
    ColdStart.forget_all()
    make_chat("general", ["alice", "bob"], chat_type="channel")
    connect(handlers, context, "a-1", "alice")
    chain = PresenceModel.get("alice").idle_chain
    PresenceModel("alice").update(actions=[PresenceModel.last_active_at.set(1.0)])  # long idle
    handlers["timers"].handler(sqs_event([presence_timer_body(IdleTimer("alice", chain))]), context)
    assert presence_store().status_of("alice") == "away"

    body = client_frame("message.send", {"chatId": "general", "content": "back"})
    reply = handlers["send"].handler(message_event("a-1", "alice", body, "message.send"), context)
    assert json.loads(reply["body"])["payload"]["status"] == "ok"
    assert presence_store().status_of("alice") == "available", "a message is an activity frame"


def test_the_idle_chain_takes_a_user_whose_disconnect_was_lost_offline(handlers, context, timers_queue):
    connect(handlers, context, "a-1", "alice")
    chain = PresenceModel.get("alice").idle_chain
    ConnectionModel("a-1").delete()  # swept by TTL; $disconnect never came
    handlers["timers"].handler(sqs_event([presence_timer_body(IdleTimer("alice", chain))]), context)
    assert presence_store().status_of("alice") == "offline"


def test_subscribing_to_users_one_shares_no_chat_with_is_refused_naming_them(
    handlers, context, connections, timers_queue
):
    make_chat("dm-bob-alice", ["bob", "alice"], chat_type="dm")
    make_chat("carols-club", ["carol", "dave"])
    connect(handlers, context, "b-1", "bob")
    frame_id, reply = frame(
        handlers, context, "b-1", "bob", "presence.subscribe", {"userIds": ["alice", "carol", "bob", "stranger"]}
    )
    error = reply["payload"]["error"]
    assert reply["payload"]["refId"] == frame_id and error["code"] == "FORBIDDEN"
    assert error["message"].endswith(": carol, stranger")
    assert sent(connections, "b-1") == [], "no snapshot: nothing was subscribed"
    assert DynamoPresenceSubscriptions().subscribed_by("bob", time.time()) == []

    _, ok = frame(handlers, context, "b-1", "bob", "presence.subscribe", {"userIds": ["alice", "bob"]})
    assert ok is None and sent(connections, "b-1")[0]["payload"]["status"] == "ok"


def test_a_timer_body_round_trips():
    for timer in (IdleTimer("u", "chain"), ApplyTimer("u")):
        assert presence_timer_from_body(presence_timer_body(timer)) == timer


def test_multi_chat_sync_carries_the_presence_of_the_subscribed_users(
    handlers, context, connections, timers_queue, team
):
    make_chat("general", ["alice", "bob"], chat_type="channel")
    connect(handlers, context, "a-1", "alice")
    frame(handlers, context, "b-1", "bob", "presence.subscribe", {"userIds": ["alice", "zed"]})
    body = client_frame("sync.request", {"chats": {"general": 0}})
    reply = json.loads(handlers["sync"].handler(message_event("b-1", "bob", body, "sync.request"), context)["body"])
    assert sorted(reply["payload"]["presence"], key=lambda p: p["userId"]) == [
        {"userId": "alice", "status": "available"},
        {"userId": "zed", "status": "offline"},
    ]


# --- degraded mode ----------------------------------------------------------------


@pytest.fixture
def presence_down(timers_queue):
    """The Presence table is gone: every presence read and write fails."""
    boto3.client("dynamodb").delete_table(TableName=PresenceModel.Meta.table_name)


def test_without_presence_connect_disconnect_and_messages_still_work(handlers, context, connections, presence_down):
    make_chat("general", ["alice", "bob"], chat_type="channel")
    connect(handlers, context, "a-1", "alice")
    assert ConnectionModel.get("a-1").user_id == "alice"
    body = client_frame("message.send", {"chatId": "general", "content": "still here"})
    reply = handlers["send"].handler(message_event("a-1", "alice", body, "message.send"), context)
    assert json.loads(reply["body"])["payload"]["status"] == "ok"
    focus = client_frame("chat.focus", {"chatId": "general"})
    reply = handlers["session"].handler(message_event("a-1", "alice", focus, "chat.focus"), context)
    assert json.loads(reply["body"])["payload"]["status"] == "ok"
    disconnect(handlers, context, "a-1")
    with pytest.raises(ConnectionModel.DoesNotExist):
        ConnectionModel.get("a-1")


def test_without_presence_its_frames_say_unavailable_and_sync_has_no_presence(
    handlers, context, connections, presence_down
):
    make_chat("general", ["alice", "bob"], chat_type="channel")
    _, update = frame(handlers, context, "a-1", "alice", "presence.update", {"status": "dnd"})
    assert update["payload"]["error"] == {"code": "UNAVAILABLE", "message": "Presence temporarily unavailable"}
    _, subscribe = frame(handlers, context, "a-1", "alice", "presence.subscribe", {"userIds": ["bob"]})
    assert subscribe["payload"]["error"]["code"] == "UNAVAILABLE"
    body = client_frame("sync.request", {"chats": {"general": 0}})
    reply = json.loads(handlers["sync"].handler(message_event("a-1", "alice", body, "sync.request"), context)["body"])
    assert reply["payload"]["presence"] == []
    assert reply["payload"]["chats"][0]["chatId"] == "general"
