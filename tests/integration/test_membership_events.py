"""Membership and chat events through the handlers that deliver and replay them (moto): the
Delivery consumer fed the Messages stream, `sync.request`, `message.send` in an archived chat,
and what a removed member can no longer do."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.aws import stream_records
from tests.support.events import client_frame, message_event
from tests.support.lambdas import load_function
from tests.support.seed import make_chat
from tidings.chats.chat_store import DynamoChatStore
from tidings.chats.directory import DynamoSharedChats, DynamoUserChats
from tidings.chats.membership import ChatAdministration, ChatUpdate
from tidings.chats.membership_store import DynamoChatChanges
from tidings.chats.models import MemberModel, UserModel
from tidings.messaging.models import MessageModel
from tidings.presence.presence_store import DynamoPresenceSubscriptions
from tidings.sessions.connection_store import DynamoConnectionStore


@pytest.fixture(scope="module")
def handlers():
    paths = {
        "send": "messaging/message_send.py",
        "sync": "messaging/sync_request.py",
        "delivery": "messaging/delivery_consumer.py",
        "history": "messaging/history_api.py",
    }
    return {name: load_function(path) for name, path in paths.items()}


@pytest.fixture
def chats(connections) -> ChatAdministration:
    make_chat("project-x", ["alice", "bob", "carol"], admins=("alice",))
    UserModel("dave", display_name="Dave").save()
    for index, user_id in enumerate(("alice", "bob", "carol", "dave")):
        DynamoConnectionStore().add(f"{user_id}-1", user_id, connected_at_ms=index, token_expires_at=2_000_000_000)
    return ChatAdministration(DynamoChatChanges(), now=time.time)


def frame_call(handlers, context, module, route, user, payload):
    frame = client_frame(route, payload)
    response = handlers[module].handler(message_event(f"{user}-1", user, frame, route), context)
    return json.loads(response["body"])


def deliver(handlers, context, connections) -> dict[str, list[dict]]:
    """Runs the Delivery consumer over the stream's records since the last call; the frames
    each connection got, by connection."""
    records = [r for r in stream_records(MessageModel.Meta.table_name) if r["eventID"] not in deliver.seen]
    deliver.seen.update(r["eventID"] for r in records)
    connections.sent.clear()
    assert handlers["delivery"].handler({"Records": records}, context) == {"batchItemFailures": []}
    return {conn: [json.loads(data) for data in sent] for conn, sent in connections.sent.items()}


deliver.seen = set()  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _fresh_stream():
    deliver.seen.clear()  # type: ignore[attr-defined]


def types(frames: list[dict]) -> list[str]:
    return [frame["type"] for frame in frames]


def test_an_added_member_gets_chat_added_and_every_member_member_joined(handlers, context, connections, chats):
    chats.put_member("alice", "project-x", "dave", None)
    sent = deliver(handlers, context, connections)
    assert types(sent["dave-1"]) == ["chat.added", "member.joined"]
    added = sent["dave-1"][0]["payload"]["chat"]
    assert (added["chatId"], added["headSeq"]) == ("project-x", 1)
    assert {m["userId"] for m in added["members"]} == {"alice", "bob", "carol", "dave"}
    joined = sent["bob-1"][0]["payload"]
    assert types(sent["bob-1"]) == ["member.joined"]
    assert joined == {"chatId": "project-x", "seq": 1, "userId": "dave", "role": "member"}


def test_a_removed_member_gets_chat_removed_and_the_others_member_left(handlers, context, connections, chats):
    chats.remove_member("alice", "project-x", "carol")
    sent = deliver(handlers, context, connections)
    assert types(sent["carol-1"]) == ["chat.removed"]
    assert sent["carol-1"][0]["payload"] == {"chatId": "project-x"}
    assert sent["bob-1"][0]["payload"] == {"chatId": "project-x", "seq": 1, "userId": "carol"}
    assert types(sent["alice-1"]) == ["member.left"]


def test_chat_updated_and_role_changes_reach_every_member(handlers, context, connections, chats):
    chats.update_chat("alice", "project-x", ChatUpdate(name="Project Y"))
    chats.put_member("alice", "project-x", "bob", "admin")
    sent = deliver(handlers, context, connections)
    assert types(sent["carol-1"]) == ["chat.updated", "member.joined"]
    updated, promoted = (frame["payload"] for frame in sent["carol-1"])
    assert (updated["seq"], updated["chat"]["name"]) == (1, "Project Y")
    assert (promoted["seq"], promoted["userId"], promoted["role"]) == (2, "bob", "admin")


def test_a_created_chat_is_added_for_every_member(handlers, context, connections, chats):
    view = chats.create_chat("bob", "group", "Lunch", ["dave"])
    sent = deliver(handlers, context, connections)
    assert set(sent) == {"bob-1", "dave-1"}
    assert types(sent["dave-1"]) == ["chat.added"]
    assert sent["dave-1"][0]["payload"]["chat"]["chatId"] == view.chat.chat_id


def test_sync_replays_membership_and_chat_events_in_seq_order(handlers, context, chats):
    chats.put_member("alice", "project-x", "dave", None)
    frame_call(handlers, context, "send", "message.send", "bob", {"chatId": "project-x", "content": "hi"})
    chats.update_chat("alice", "project-x", ChatUpdate(description="about"))
    chats.remove_member("alice", "project-x", "dave")
    reply = frame_call(handlers, context, "sync", "sync.request", "bob", {"chatId": "project-x", "lastKnownSeq": 0})
    events = reply["payload"]["events"]
    assert [(e["type"], e["payload"]["seq"]) for e in events] == [
        ("member.joined", 1),
        ("message.new", 2),
        ("chat.updated", 3),
        ("member.left", 4),
    ]
    assert events[2]["payload"]["chat"]["description"] == "about"


def test_an_archived_chat_refuses_new_messages_and_keeps_its_history(handlers, context, chats):
    frame_call(handlers, context, "send", "message.send", "bob", {"chatId": "project-x", "content": "before"})
    chats.update_chat("alice", "project-x", ChatUpdate(archived=True))
    ack = frame_call(handlers, context, "send", "message.send", "bob", {"chatId": "project-x", "content": "after"})
    assert (ack["payload"]["status"], ack["payload"]["error"]["code"]) == ("error", "FORBIDDEN")
    reply = frame_call(handlers, context, "sync", "sync.request", "bob", {"chatId": "project-x", "lastKnownSeq": 0})
    assert [e["type"] for e in reply["payload"]["events"]] == ["message.new", "chat.updated"]
    chats.update_chat("alice", "project-x", ChatUpdate(archived=False))
    ack = frame_call(handlers, context, "send", "message.send", "bob", {"chatId": "project-x", "content": "again"})
    assert ack["payload"]["status"] == "ok"


def test_from_a_removal_on_the_member_cannot_send_sync_or_search_the_chat(handlers, context, connections, chats):
    frame_call(handlers, context, "send", "message.send", "carol", {"chatId": "project-x", "content": "zebra one"})
    chats.remove_member("alice", "project-x", "carol")
    ack = frame_call(handlers, context, "send", "message.send", "carol", {"chatId": "project-x", "content": "x"})
    assert ack["payload"]["error"]["code"] == "FORBIDDEN"
    reply = frame_call(handlers, context, "sync", "sync.request", "carol", {"chatId": "project-x", "lastKnownSeq": 0})
    assert reply["payload"]["error"]["code"] == "FORBIDDEN"
    assert DynamoUserChats().chats_of("carol") == []  # what search may read for her
    assert DynamoSharedChats().shared_with("carol", ["alice", "bob"]) == set()  # whose presence she may watch
    frame_call(handlers, context, "send", "message.send", "bob", {"chatId": "project-x", "content": "after"})
    sent = deliver(handlers, context, connections)
    assert "message.new" in types(sent["bob-1"])
    assert "message.new" not in types(sent.get("carol-1", []))


def test_a_chat_the_byuser_index_still_lists_after_a_removal_is_not_used(monkeypatch, chats):
    """On AWS the index lags the table for a moment after a removal: search's chats, the chat
    list and presence's shared chats confirm each listed chat against the base table."""
    chats.remove_member("alice", "project-x", "carol")
    stale = MemberModel("project-x", "carol", role="member", joined_at="2026-11-25T00:00:00.000Z")
    real_query = MemberModel.by_user.query

    def lagging_index(user_id, *args, **kwargs):
        found = list(real_query(user_id, *args, **kwargs))
        return [*found, stale] if user_id == "carol" else found

    monkeypatch.setattr(MemberModel.by_user, "query", lagging_index)
    assert [m.chat_id for m in MemberModel.by_user.query("carol")] == ["project-x"]  # the index lags
    assert DynamoUserChats().chats_of("carol") == []
    assert DynamoSharedChats().shared_with("carol", ["alice", "bob"]) == set()
    assert DynamoChatStore().memberships_of("carol") == []


def test_a_removal_ends_the_presence_subscriptions_only_the_chat_allowed(handlers, context, connections, chats):
    make_chat("lunch", ["bob", "carol"])  # bob still shares a chat with carol after the removal
    subscriptions = DynamoPresenceSubscriptions()
    later = time.time() + 600
    subscriptions.subscribe("carol", ["alice", "bob"], later)
    subscriptions.subscribe("alice", ["carol"], later)
    subscriptions.subscribe("bob", ["carol"], later)
    chats.remove_member("alice", "project-x", "carol")
    deliver(handlers, context, connections)
    now = time.time()
    assert subscriptions.subscribed_by("carol", now) == ["bob"]
    assert subscriptions.subscribers_of("carol", now) == ["bob"]
    assert subscriptions.subscribed_by("alice", now) == []


def test_a_batch_reads_a_chats_audience_once_and_again_after_a_membership_change(
    handlers, context, connections, chats, monkeypatch
):
    from tidings.messaging.fanout import Fanout

    reads: list[str] = []
    real_audience = Fanout.audience

    def audience(self, chat_id, **kwargs):
        reads.append(chat_id)
        return real_audience(self, chat_id, **kwargs)

    monkeypatch.setattr(Fanout, "audience", audience)
    make_chat("other", ["alice", "bob"])
    for content in ("one", "two"):
        frame_call(handlers, context, "send", "message.send", "bob", {"chatId": "project-x", "content": content})
    frame_call(handlers, context, "send", "message.send", "bob", {"chatId": "other", "content": "elsewhere"})
    chats.put_member("alice", "project-x", "dave", None)
    frame_call(handlers, context, "send", "message.send", "bob", {"chatId": "project-x", "content": "three"})

    sent = deliver(handlers, context, connections)  # one batch: one, two, elsewhere, dave joins, three

    assert reads == ["project-x", "other", "project-x"], "once per chat, and again at the change"

    def contents(connection_id: str) -> list[str]:
        return [f["payload"]["message"]["content"] for f in sent[connection_id] if f["type"] == "message.new"]

    assert contents("carol-1") == ["one", "two", "three"]
    assert contents("alice-1") == ["one", "two", "elsewhere", "three"]
    assert "three" in contents("dave-1"), "the audience read again after dave joined has him"
    assert "chat.added" in types(sent["dave-1"])
