"""The sync.request handler driven by API Gateway WebSocket events, on moto."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.events import client_frame, message_event
from tests.support.lambdas import load_function
from tests.support.seed import make_chat
from tidings.chats.models import ChatModel
from tidings.messaging.wire import LISTED_READERS
from tidings.notifications.badge_store import DynamoBadgeStore


@pytest.fixture(scope="module")
def handlers():
    paths = {"send": "message_send", "events": "chat_event_frames", "sync": "sync_request"}
    return {name: load_function(f"messaging/{module}.py") for name, module in paths.items()}


@pytest.fixture
def chats(connections):
    make_chat("project-x", ["alice", "bob", "carol"], admins=("alice",))
    make_chat("general", ["alice", "bob", "carol", "dave", "erin"], chat_type="channel")
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")


def call(handlers, context, module, route, user, frame):
    response = handlers[module].handler(message_event("conn-1=", user, frame, route), context)
    assert response["statusCode"] == 200
    return json.loads(response["body"])


def send(handlers, context, user, chat_id, content):
    ack = call(
        handlers,
        context,
        "send",
        "message.send",
        user,
        client_frame("message.send", {"chatId": chat_id, "content": content}),
    )
    assert ack["payload"]["status"] == "ok"
    return ack["payload"]["message"]


def sync(handlers, context, user, payload):
    frame = client_frame("sync.request", payload)
    reply = call(handlers, context, "sync", "sync.request", user, frame)
    assert reply["payload"]["refId"] == frame["id"]
    return reply


def test_sync_request_replays_missed_events_as_server_frames(handlers, context, chats):
    seen = send(handlers, context, "alice", "project-x", "seen")
    missed = send(handlers, context, "bob", "project-x", "missed")
    edit = call(
        handlers,
        context,
        "events",
        "message.edit",
        "bob",
        client_frame("message.edit", {"messageId": missed["messageId"], "content": "missed, edited"}),
    )

    reply = sync(handlers, context, "carol", {"chatId": "project-x", "lastKnownSeq": seen["seq"]})
    assert reply["type"] == "sync.response"
    payload = reply["payload"]
    assert payload["chatId"] == "project-x"
    assert [(e["type"], e["payload"]["seq"]) for e in payload["events"]] == [
        ("message.new", missed["seq"]),
        ("message.updated", edit["payload"]["seq"]),
    ]
    assert all(set(e) >= {"type", "id", "timestamp", "payload"} for e in payload["events"])
    assert payload["events"][0]["payload"]["message"]["content"] == "missed, edited"
    assert (payload["hasMore"], payload["cursor"], payload["headSeq"]) == (False, None, edit["payload"]["seq"])
    # Each sender has read up to their own message; carol has read nothing.
    assert payload["readWatermarks"] == {"alice": seen["seq"], "bob": missed["seq"], "carol": 0}


def test_sync_pages_with_limit_and_cursor(handlers, context, chats):
    for i in range(3):
        send(handlers, context, "alice", "project-x", f"m{i}")
    first = sync(handlers, context, "bob", {"chatId": "project-x", "lastKnownSeq": 0, "limit": 2})["payload"]
    assert [e["payload"]["seq"] for e in first["events"]] == [1, 2]
    assert first["hasMore"] is True
    assert isinstance(first["cursor"], str)
    rest = sync(handlers, context, "bob", {"chatId": "project-x", "cursor": first["cursor"]})["payload"]
    assert [e["payload"]["seq"] for e in rest["events"]] == [3]
    assert (rest["hasMore"], rest["cursor"]) == (False, None)


def test_multi_chat_sync_answers_every_chat_and_refuses_the_forbidden_one(handlers, context, chats):
    send(handlers, context, "alice", "project-x", "p1")
    send(handlers, context, "dave", "general", "g1")
    send(handlers, context, "alice", "dm-alice-bob", "private")
    DynamoBadgeStore().increment("project-x", "carol", mentioned=True)  # as the Notify consumer would
    reply = sync(handlers, context, "carol", {"chats": {"project-x": 0, "general": 0, "dm-alice-bob": 0}})
    payload = reply["payload"]
    assert reply["type"] == "sync.response"
    # Badges of carol's chats only (not the dm she is not in), each with her totals.
    assert payload["badges"] == [
        {"chatId": "general", "unreadCount": 0, "mentionCount": 0, "totalUnreadCount": 1, "totalMentionCount": 1},
        {"chatId": "project-x", "unreadCount": 1, "mentionCount": 1, "totalUnreadCount": 1, "totalMentionCount": 1},
    ]
    assert payload["presence"] == [], "carol subscribed to no one's presence"
    project, general, dm = payload["chats"]
    assert [e["payload"]["message"]["content"] for e in project["events"]] == ["p1"]
    assert [e["payload"]["message"]["content"] for e in general["events"]] == ["g1"]
    assert dm["chatId"] == "dm-alice-bob"
    assert dm["error"]["code"] == "FORBIDDEN"
    assert "events" not in dm


def test_more_than_500_missed_is_too_large(handlers, context, chats):
    send(handlers, context, "alice", "general", "one")
    ChatModel("general").update(actions=[ChatModel.head_seq.set(600)])
    payload = sync(handlers, context, "bob", {"chatId": "general", "lastKnownSeq": 1})["payload"]
    assert payload["tooLarge"] is True
    assert payload["headSeq"] == 600
    assert "events" not in payload


def test_a_non_member_gets_a_forbidden_ack(handlers, context, chats):
    reply = sync(handlers, context, "dave", {"chatId": "project-x", "lastKnownSeq": 0})
    assert reply["type"] == "ack"
    assert reply["payload"]["status"] == "error"
    assert reply["payload"]["error"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"lastKnownSeq": 0}, "chatId"),
        ({"chatId": "project-x"}, "lastKnownSeq"),
        ({"chatId": "project-x", "lastKnownSeq": -1}, "lastKnownSeq"),
        ({"chatId": "project-x", "lastKnownSeq": "7"}, "lastKnownSeq"),
        ({"chatId": "project-x", "lastKnownSeq": 0, "limit": 501}, "limit"),
        ({"chatId": "project-x", "lastKnownSeq": 0, "limit": 0}, "limit"),
        ({"chatId": "project-x", "lastKnownSeq": 0, "chats": {"general": 0}}, "either chats"),
        ({"chats": {f"chat-{i}": 0 for i in range(101)}}, "chats"),
        ({"chats": {"general": -3}}, "chats.general"),
        ({"chatId": "project-x", "cursor": "garbage!"}, "cursor"),
    ],
)
def test_bad_sync_requests_get_bad_frame_naming_the_problem(handlers, context, chats, payload, named):
    reply = sync(handlers, context, "bob", payload)
    assert reply["type"] == "ack"
    assert reply["payload"]["error"]["code"] == "BAD_FRAME"
    assert named in reply["payload"]["error"]["message"]


def test_a_multi_chat_reply_fits_one_websocket_message_with_presence_and_badges(handlers, context, chats):
    """30 presence.subscribe frames of 100 users each, then a multi-chat sync with more events
    than fit: events, badges and presence all share the budget, so the reply stays within API
    Gateway's 128 KiB message limit; presence that does not fit is left out, and says so."""
    from tests.support.services import presence_subscriptions

    for batch in range(30):  # as 30 frames over five minutes would have (past the subscribe rate limit)
        users = [f"user-{batch:02d}-{i:03d}" for i in range(100)]
        presence_subscriptions().subscribe("carol", users, time.time() + 600)
    for sender in ("alice", "bob"):  # within each sender's 10 messages a second
        for i in range(8):
            send(handlers, context, sender, "project-x", f"{i} " + "budget " * 1500)
    send(handlers, context, "dave", "general", "g1")

    frame = client_frame("sync.request", {"chats": {"project-x": 0, "general": 0}})
    response = handlers["sync"].handler(message_event("conn-1=", "carol", frame, "sync.request"), context)
    assert len(response["body"].encode()) <= 128 * 1024
    payload = json.loads(response["body"])["payload"]
    project, general = payload["chats"]
    assert general["chatId"] == "general"
    assert project["events"] and project["hasMore"] is True and project["cursor"]
    assert payload["presence"] and payload["presenceTruncated"] is True
    assert len(payload["presence"]) < 3000
    assert [b["chatId"] for b in payload["badges"]] == ["general", "project-x"]


def test_sync_requests_are_rate_limited(handlers, context, chats, frozen_rate_limits):
    replies = [
        call(handlers, context, "sync", "sync.request", "bob", client_frame("sync.request", {"chats": {"general": 0}}))
        for _ in range(11)
    ]
    assert [r["type"] for r in replies[:10]] == ["sync.response"] * 10
    limited = replies[10]["payload"]
    assert limited["status"] == "error" and limited["error"]["code"] == "RATE_LIMITED"
    assert limited["error"]["retryAfterMs"] > 0


def test_a_big_channel_syncs_its_readers_furthest_ahead_and_a_summary(handlers, context, connections):
    """A channel of more than LISTED_READERS members: the response lists the requester's
    watermark and the LISTED_READERS highest, with `readSummary`, in both sync shapes."""
    members = [f"member-{n:03d}" for n in range(LISTED_READERS + 20)]
    make_chat("town-hall", members, chat_type="channel")
    for sender in members[-30:]:  # each sender's watermark moves to their own message
        send(handlers, context, sender, "town-hall", f"hello from {sender}")
    single = sync(handlers, context, "member-000", {"chatId": "town-hall", "lastKnownSeq": 25})["payload"]
    assert [e["payload"]["seq"] for e in single["events"]] == list(range(26, 31))
    assert single["readSummary"] == {"members": LISTED_READERS + 20, "readToHead": 1}  # the last sender
    listed = single["readWatermarks"]
    assert len(listed) == LISTED_READERS + 1 and listed["member-000"] == 0
    assert {listed[m] for m in members[-30:]} == set(range(1, 31)), "every sender is further than a silent member"
    everything = sync(handlers, context, "member-000", {"chats": {"town-hall": 0, "general": 0}})["payload"]
    town_hall = everything["chats"][0]
    assert town_hall["readSummary"] == single["readSummary"]
    assert town_hall["readWatermarks"] == listed
    assert everything["chats"][1]["error"]["code"] == "FORBIDDEN"
    make_chat("general", ["alice", "bob"], chat_type="channel")
    small = sync(handlers, context, "alice", {"chatId": "general", "lastKnownSeq": 0})["payload"]
    assert small["readWatermarks"] == {"alice": 0, "bob": 0} and "readSummary" not in small
