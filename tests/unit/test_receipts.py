"""Read watermarks move forward only; bursts coalesce to the highest seq."""

import pytest

from tests.support.seed import make_chat
from tidings.domain.messages import SendMessage
from tidings.domain.receipts import ReadService, Watermark, coalesce
from tidings.errors import Forbidden, NotFound
from tidings.storage.messages import DynamoMessageStore
from tidings.storage.models import MemberModel
from tidings.wiring import message_service


@pytest.fixture
def messages(aws):
    make_chat("project-x", ["alice", "bob"])
    make_chat("other", ["alice"])
    for cached in (message_service,):
        cached.cache_clear()
    sent = [
        message_service().send("alice", SendMessage(request_id=f"r{i}", chat_id="project-x", content=f"m{i}"))
        for i in range(3)
    ]
    message_service.cache_clear()
    return sent


def test_the_watermark_only_moves_forward(messages):
    reads = ReadService(DynamoMessageStore())
    assert reads.mark("bob", "project-x", messages[2].message_id).seq == 3
    reads.mark("bob", "project-x", messages[0].message_id)
    member = MemberModel.get("project-x", "bob")
    assert (member.last_read_seq, member.last_read_message_id) == (3, messages[2].message_id)


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
