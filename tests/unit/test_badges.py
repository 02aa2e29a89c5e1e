"""Badges on moto: counts per chat and in total, mentions, focus, own messages, recounts."""

import json
import time

import pytest

from tests.support.fakes import NoLimits
from tests.support.seed import make_chat
from tidings.domain.badges import BadgeService
from tidings.domain.messages import MessageService, SendMessage
from tidings.storage.badges import DynamoBadgeStore
from tidings.storage.connections import DynamoConnectionStore
from tidings.storage.messages import DynamoMemberDirectory, DynamoMessageStore, DynamoUserDirectory
from tidings.storage.models import MemberModel


class Posted:
    def __init__(self) -> None:
        self.frames: dict[str, list[dict]] = {}

    def post(self, connection_id: str, data: str) -> bool:
        self.frames.setdefault(connection_id, []).append(json.loads(data)["payload"])
        return True


@pytest.fixture
def world(aws):
    make_chat("project-x", ["alice", "bob", "carol"])
    make_chat("general", ["alice", "bob"])
    connections = DynamoConnectionStore()
    connections.add("bob-1", "bob", connected_at_ms=1, token_expires_at=2_000_000_000)
    connections.add("bob-2", "bob", connected_at_ms=2, token_expires_at=2_000_000_000)
    posted = Posted()
    badges = BadgeService(DynamoBadgeStore(), DynamoMemberDirectory(), connections, lambda: posted)
    sending = MessageService(DynamoMessageStore(), DynamoUserDirectory(), NoLimits(), now=time.time)
    counter = iter(range(1000))

    def send(sender, chat_id, content="hello"):
        message = sending.send(sender, SendMessage(request_id=f"r{next(counter)}", chat_id=chat_id, content=content))
        badges.message_arrived(message)
        return message

    return badges, send, posted, connections


def test_a_message_raises_every_recipients_badge_and_totals_on_every_connection(world):
    _, send, posted, _ = world
    send("alice", "project-x")
    send("alice", "general", "hi @bob")
    assert posted.frames["bob-1"][-1] == {
        "chatId": "general",
        "unreadCount": 1,
        "mentionCount": 1,
        "totalUnreadCount": 2,
        "totalMentionCount": 1,
    }
    assert posted.frames["bob-2"] == posted.frames["bob-1"]
    carol = MemberModel.get("project-x", "carol")
    assert (carol.unread_count, carol.mention_count) == (1, 0), "an offline member's counts are kept"


def test_your_own_messages_are_never_unread(world):
    _, send, _, _ = world
    send("bob", "project-x")
    assert MemberModel.get("project-x", "bob").unread_count == 0


def test_a_focused_chat_does_not_grow(world):
    _, send, posted, connections = world
    connections.set_focus("bob-2", "project-x")
    send("alice", "project-x")
    assert MemberModel.get("project-x", "bob").unread_count == 0
    assert "bob-1" not in posted.frames


def test_channel_mentions_count_for_everyone(world):
    _, send, _, _ = world
    send("alice", "project-x", "@channel standup!")
    assert MemberModel.get("project-x", "carol").mention_count == 1


def test_reading_recounts_from_the_watermark_and_lowers_the_totals(world):
    badges, send, posted, _ = world
    sent = [send("alice", "project-x", f"m{i} @bob") for i in range(3)]
    send("alice", "general")
    DynamoMessageStore().advance_read_watermark("project-x", "bob", sent[1].seq, sent[1].message_id)
    badge = badges.chat_read("project-x", "bob")
    assert (badge.unread, badge.mentions, badge.total_unread, badge.total_mentions) == (1, 1, 2, 1)
    DynamoMessageStore().advance_read_watermark("project-x", "bob", sent[2].seq, sent[2].message_id)
    badges.chat_read("project-x", "bob")
    assert posted.frames["bob-2"][-1] == {
        "chatId": "project-x",
        "unreadCount": 0,
        "mentionCount": 0,
        "totalUnreadCount": 1,
        "totalMentionCount": 0,
    }
