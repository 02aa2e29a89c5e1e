"""Badges on moto: counts per chat and in total, mentions, focus, own messages, recounts."""

import time

import pytest

from tests.support.fakes import NoLimits
from tests.support.notify import NotifyWorld
from tidings.chats.directory import DynamoUserDirectory
from tidings.chats.models import MemberModel, UserModel
from tidings.messaging.chat_events import ChatEventService
from tidings.messaging.message_store import DynamoMessageStore


@pytest.fixture
def world(aws):
    return NotifyWorld(online=("bob-1", "bob-2"))


def test_a_message_raises_every_recipients_badge_and_totals_on_every_connection(world):
    world.send("alice", "project-x")
    world.send("alice", "general", "hi @bob")
    assert world.badges("bob-1")[-1] == {
        "chatId": "general",
        "unreadCount": 1,
        "mentionCount": 1,
        "totalUnreadCount": 2,
        "totalMentionCount": 1,
    }
    assert world.badges("bob-2") == world.badges("bob-1")
    carol = MemberModel.get("project-x", "carol")
    assert (carol.unread_count, carol.mention_count) == (1, 0), "an offline member's counts are kept"


def test_your_own_messages_are_never_unread(world):
    world.send("bob", "project-x")
    assert MemberModel.get("project-x", "bob").unread_count == 0


def test_a_focused_chat_does_not_grow(world):
    world.connections.set_focus("bob-2", "project-x")
    world.send("alice", "project-x")
    assert MemberModel.get("project-x", "bob").unread_count == 0
    assert "bob-1" not in world.posted.frames


def test_channel_mentions_count_for_everyone(world):
    world.send("alice", "project-x", "@channel standup!")
    assert MemberModel.get("project-x", "carol").mention_count == 1


def test_reading_recounts_from_the_watermark_and_lowers_the_totals(world):
    sent = [world.send("alice", "project-x", f"m{i} @bob") for i in range(3)]
    world.send("alice", "general")
    DynamoMessageStore().advance_read_watermark("project-x", "bob", sent[1].seq, sent[1].message_id)
    badge = world.badge_service.chat_read("project-x", "bob")
    assert (badge.unread_count, badge.mention_count, badge.total_unread_count, badge.total_mention_count) == (
        1,
        1,
        2,
        1,
    )
    DynamoMessageStore().advance_read_watermark("project-x", "bob", sent[2].seq, sent[2].message_id)
    world.badge_service.chat_read("project-x", "bob")
    assert world.badges("bob-2")[-1] == {
        "chatId": "project-x",
        "unreadCount": 0,
        "mentionCount": 0,
        "totalUnreadCount": 1,
        "totalMentionCount": 0,
    }


def delete(world, actor, message):
    """A delete, then what the Notify consumer does with its stream record."""
    events = ChatEventService(DynamoMessageStore(), DynamoUserDirectory(), NoLimits(), now=time.time)
    events.delete(actor, f"delete-{message.message_id}", message.message_id)
    world.badge_service.message_deleted(message.chat_id, message.seq)


def counts(chat_id, user_id):
    member, user = MemberModel.get(chat_id, user_id), UserModel.get(user_id)
    return member.unread_count, member.mention_count, user.total_unread, user.total_mentions


def test_a_deleted_message_stops_counting_for_every_member_and_in_the_totals(world):
    world.send("alice", "general", "elsewhere")
    kept = world.send("alice", "project-x", "kept")
    gone = world.send("alice", "project-x", "oops @bob @carol")
    assert counts("project-x", "bob") == (2, 1, 3, 1)
    assert counts("project-x", "carol") == (2, 1, 2, 1)
    world.posted.frames.clear()

    delete(world, "alice", gone)
    assert counts("project-x", "bob") == (1, 0, 2, 0)
    assert counts("project-x", "carol") == (1, 0, 1, 0), "an offline member's stored counts fall too"
    assert world.badges("bob-1") == [
        {"chatId": "project-x", "unreadCount": 1, "mentionCount": 0, "totalUnreadCount": 2, "totalMentionCount": 0}
    ]
    assert world.badges("bob-2") == world.badges("bob-1")
    assert counts("project-x", "alice")[:2] == (0, 0)
    assert kept.seq < gone.seq


def test_a_delete_redelivered_by_the_stream_changes_nothing_more(world):
    world.send("alice", "project-x", "one")
    gone = world.send("alice", "project-x", "two")
    delete(world, "alice", gone)
    world.posted.frames.clear()
    world.badge_service.message_deleted("project-x", gone.seq)
    assert counts("project-x", "bob") == (1, 0, 1, 0)
    assert world.badges("bob-1") == [], "nothing changed, nothing sent"


def test_a_delete_leaves_alone_those_who_had_read_it(world):
    gone = world.send("alice", "project-x", "read already")
    DynamoMessageStore().advance_read_watermark("project-x", "bob", gone.seq, gone.message_id)
    world.badge_service.chat_read("project-x", "bob")
    world.posted.frames.clear()

    delete(world, "alice", gone)
    assert counts("project-x", "bob")[:2] == (0, 0)
    assert world.badges("bob-1") == []
    assert counts("project-x", "carol")[:2] == (0, 0), "carol had not read it: it no longer counts"


def test_a_delete_never_makes_messages_count_that_did_not(world):
    world.send("alice", "project-x", "counted")
    world.connections.set_focus("bob-1", "project-x")
    gone = world.send("alice", "project-x", "seen while focused")  # not counted: bob is looking
    world.send("alice", "project-x", "also seen while focused")
    assert counts("project-x", "bob")[:2] == (1, 0)
    world.posted.frames.clear()

    delete(world, "alice", gone)
    assert counts("project-x", "bob")[:2] == (1, 0), "a delete only ever lowers a count"
    assert world.badges("bob-1") == []
    assert counts("project-x", "carol")[:2] == (2, 0)
