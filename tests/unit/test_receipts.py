"""Read watermarks move forward only; bursts coalesce to the highest seq."""

import time

import pytest

from tests.support.fakes import NoLimits
from tests.support.seed import make_chat
from tidings.chats.directory import DynamoUserDirectory
from tidings.chats.models import MemberModel
from tidings.kernel.errors import Forbidden, NotFound
from tidings.messaging.message_store import DynamoMessageStore
from tidings.messaging.models import MessageModel
from tidings.messaging.receipts import Advance, ReadService, Watermark, coalesce, plan
from tidings.messaging.sending import MessageService, SendMessage


def message_service() -> MessageService:
    return MessageService(DynamoMessageStore(), DynamoUserDirectory(), NoLimits(), now=time.time)


@pytest.fixture
def messages(aws):
    make_chat("project-x", ["alice", "bob"])
    make_chat("other", ["alice"])
    sent = [
        message_service().send("alice", SendMessage(request_id=f"r{i}", chat_id="project-x", content=f"m{i}"))
        for i in range(3)
    ]
    return sent


def test_the_watermark_only_moves_forward(messages):
    reads = ReadService(DynamoMessageStore())
    assert reads.mark("bob", "project-x", messages[2].message_id).seq == 3
    reads.mark("bob", "project-x", messages[0].message_id)
    member = MemberModel.get("project-x", "bob")
    assert (member.last_read_seq, member.last_read_message_id) == (3, messages[2].message_id)


def test_sending_moves_the_senders_watermark_to_their_message(messages):
    alice = MemberModel.get("project-x", "alice")
    assert (alice.last_read_seq, alice.last_read_message_id, alice.last_read_by) == (3, messages[2].message_id, "send")
    assert MemberModel.get("project-x", "bob").last_read_seq == 0, "nobody else's watermark moves"


def test_a_read_mark_after_a_send_is_recorded_as_a_mark(messages):
    reply = message_service().send("bob", SendMessage(request_id="b1", chat_id="project-x", content="reply"))
    ReadService(DynamoMessageStore()).mark("alice", "project-x", reply.message_id)
    alice = MemberModel.get("project-x", "alice")
    assert (alice.last_read_seq, alice.last_read_by) == (reply.seq, "mark")


def test_a_send_never_moves_the_senders_watermark_back_and_is_stored_anyway(messages):
    # bob has read further than the seq his message will get (a later message committed first).
    DynamoMessageStore().advance_read_watermark("project-x", "bob", 10, "later")
    sent = message_service().send("bob", SendMessage(request_id="b1", chat_id="project-x", content="late"))
    assert sent.seq == 4
    assert MessageModel.get("project-x", 4).content == "late"
    bob = MemberModel.get("project-x", "bob")
    assert (bob.last_read_seq, bob.last_read_message_id, bob.last_read_by) == (10, "later", "mark")


def test_a_message_of_another_chat_is_not_found(messages):
    with pytest.raises(NotFound):
        ReadService(DynamoMessageStore()).mark("alice", "other", messages[0].message_id)


def test_a_non_member_may_not_mark(messages):
    with pytest.raises(Forbidden):
        ReadService(DynamoMessageStore()).mark("carol", "project-x", messages[0].message_id)


def test_coalesce_keeps_the_highest_mark_per_reader_and_chat():
    marks = [
        Watermark("c", "bob", 3, "m3"),
        Watermark("c", "carol", 1, "m1"),
        Watermark("c", "bob", 5, "m5"),
        Watermark("c", "bob", 4, "m4"),
        Watermark("d", "bob", 2, "m2"),
    ]
    assert coalesce(marks) == [
        Watermark("c", "bob", 5, "m5"),
        Watermark("c", "carol", 1, "m1"),
        Watermark("d", "bob", 2, "m2"),
    ]


def test_a_batch_sends_receipts_for_read_marks_only_and_recounts_whoever_may_have_changed():
    read = Watermark("c", "bob", 3, "m3")
    sent_with_unread = Watermark("c", "carol", 4, "m4")
    sent_all_read = Watermark("c", "dave", 5, "m5")
    read_then_sent = [Watermark("c", "erin", 6, "m6"), Watermark("c", "erin", 7, "m7")]
    batch = plan(
        [
            Advance(read),
            Advance(sent_with_unread, by_send=True, had_counts=True),
            Advance(sent_all_read, by_send=True, had_counts=False),
            Advance(read_then_sent[0]),
            Advance(read_then_sent[1], by_send=True, had_counts=False),
        ]
    )
    assert batch.receipts == {read, read_then_sent[0]}, "a send is no read.receipt: message.new says it"
    assert batch.recounts == {read, sent_with_unread, read_then_sent[1]}
