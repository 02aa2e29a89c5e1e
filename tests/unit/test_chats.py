"""The chats REST API's logic on moto: the chat list and message history pages."""

from __future__ import annotations

import time

import pytest

from tests.support.fakes import NoLimits
from tests.support.seed import make_chat
from tidings.chats.chat_list import ChatService
from tidings.chats.chat_store import DynamoChatStore
from tidings.chats.directory import DynamoMemberDirectory, DynamoUserDirectory
from tidings.chats.models import MemberModel, UserModel
from tidings.kernel.errors import Forbidden
from tidings.messaging.chat_events import ChatEventService
from tidings.messaging.history import HistoryService
from tidings.messaging.message_store import DynamoMessageStore
from tidings.messaging.sending import MessageService, SendMessage
from tidings.notifications.preference_store import DynamoPreferenceStore


@pytest.fixture
def seeded(aws) -> None:
    make_chat("project-x", ["alice", "bob", "carol"], admins=("alice",))
    make_chat("general", ["alice", "bob", "carol", "dave", "erin"], admins=("alice",), chat_type="channel")
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")


@pytest.fixture
def chats(seeded) -> ChatService:
    return ChatService(DynamoChatStore(), DynamoPreferenceStore())


@pytest.fixture
def history(seeded) -> HistoryService:
    return HistoryService(DynamoMessageStore(), DynamoMemberDirectory())


@pytest.fixture
def sending(aws) -> MessageService:
    return MessageService(DynamoMessageStore(), DynamoUserDirectory(), NoLimits(), now=time.time)


@pytest.fixture
def events(aws) -> ChatEventService:
    return ChatEventService(DynamoMessageStore(), DynamoUserDirectory(), NoLimits(), now=time.time)


def send(sending: MessageService, chat_id: str, sender: str, content: str):
    return sending.send(sender, SendMessage(f"{chat_id}-{content}", chat_id, content))


def test_the_chat_list_is_the_callers_chats_with_members_and_seqs(chats, sending):
    UserModel("alice", display_name="Alice Liddell").save()
    for i in range(3):
        send(sending, "project-x", "bob", f"m{i}")
    MemberModel("project-x", "carol").update(actions=[MemberModel.last_read_seq.set(2)])

    listed = {chat["chatId"]: chat for chat in (summary.to_wire() for summary in chats.list_chats("carol"))}
    assert set(listed) == {"project-x", "general"}
    project = listed["project-x"]
    assert project == {
        "chatId": "project-x",
        "name": "project-x",
        "type": "group",
        "members": [
            {"userId": "alice", "displayName": "Alice Liddell", "role": "admin"},
            {"userId": "bob", "displayName": "Bob", "role": "member"},
            {"userId": "carol", "displayName": "Carol", "role": "member"},
        ],
        "unreadCount": 0,
        "mentionCount": 0,
        "lastReadSeq": 2,
        "headSeq": 3,
        "muted": False,
        "pinned": False,
        "description": None,
        "visibility": "private",
        "archived": False,
    }
    assert listed["general"]["type"] == "channel"
    assert listed["general"]["visibility"] == "public"  # a channel's default
    assert len(listed["general"]["members"]) == 5
    assert listed["general"]["headSeq"] == 0


def test_a_dm_has_no_name_and_a_user_without_chats_gets_an_empty_list(chats):
    from tidings.chats.models import ChatModel

    ChatModel("dm-alice-bob").update(actions=[ChatModel.name.remove()])
    (dm,) = [c.to_wire() for c in chats.list_chats("alice") if c.chat.chat_id == "dm-alice-bob"]
    assert (dm["name"], dm["type"]) == (None, "dm")
    assert chats.list_chats("mallory") == []


def test_messages_come_newest_first_without_events_and_page_back_to_the_first(history, sending, events):
    sent = [send(sending, "project-x", "alice", f"m{i}") for i in range(5)]
    events.react("bob", "r1", sent[1].message_id, "👍", "add")
    events.edit("alice", "e1", sent[3].message_id, "m3 edited")

    first = history.messages("bob", "project-x", None, 2)
    assert [m.content for m in first.messages] == ["m4", "m3 edited"]
    assert first.next_before == sent[3].seq
    second = history.messages("bob", "project-x", first.next_before, 2)
    assert [m.content for m in second.messages] == ["m2", "m1"]
    assert second.messages[1].reactions == {"👍": ["bob"]}
    last = history.messages("bob", "project-x", second.next_before, 2)
    assert [m.content for m in last.messages] == ["m0"]
    assert last.next_before is None
    assert last.to_wire()["nextBefore"] is None


def test_a_page_that_ends_exactly_at_the_first_message_has_no_next(history, sending):
    for i in range(2):
        send(sending, "project-x", "alice", f"m{i}")
    page = history.messages("bob", "project-x", None, 2)
    assert (len(page.messages), page.next_before) == (2, None)


def test_deleted_messages_are_tombstones_in_history(history, sending, events):
    message = send(sending, "project-x", "alice", "oops")
    events.delete("alice", "d1", message.message_id)
    (tombstone,) = history.messages("bob", "project-x", None, 50).messages
    assert (tombstone.deleted, tombstone.content) == (True, None)


def test_only_members_read_history(history, sending):
    send(sending, "project-x", "alice", "members only")
    with pytest.raises(Forbidden):
        history.messages("dave", "project-x", None, 50)
    with pytest.raises(Forbidden):
        history.messages("dave", "no-such-chat", None, 50)
