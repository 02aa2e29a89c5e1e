"""Badges on moto: counts per chat and in total, mentions, focus, own messages, recounts."""

import pytest

from tests.support.notify import NotifyWorld
from tidings.storage.messages import DynamoMessageStore
from tidings.storage.models import MemberModel


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
    assert (badge.unread, badge.mentions, badge.total_unread, badge.total_mentions) == (1, 1, 2, 1)
    DynamoMessageStore().advance_read_watermark("project-x", "bob", sent[2].seq, sent[2].message_id)
    world.badge_service.chat_read("project-x", "bob")
    assert world.badges("bob-2")[-1] == {
        "chatId": "project-x",
        "unreadCount": 0,
        "mentionCount": 0,
        "totalUnreadCount": 1,
        "totalMentionCount": 0,
    }
