"""message.send: membership, seq allocation, idempotency, mentions (on moto)."""

import time
from datetime import UTC, datetime

import pytest

from tests.support.seed import make_chat
from tidings.chats.directory import DynamoUserDirectory
from tidings.kernel.errors import Forbidden, NotFound, RateLimited
from tidings.kernel.ratelimits import DynamoBucketStore, RateLimiter
from tidings.messaging.message import mention_candidates, resolve_mentions
from tidings.messaging.message_store import DynamoMessageStore
from tidings.messaging.models import IdempotencyModel, MessageModel
from tidings.messaging.sending import MessageService, SendMessage

# Idempotency claims expire by the wall clock, so the service's clock must be near it.
NOW = float(int(time.time() // 3600 * 3600))


@pytest.fixture
def service(aws):
    make_chat("project-x", ["alice", "bob", "carol"], admins=("alice",))
    make_chat("dm-dave-erin", ["dave", "erin"], chat_type="dm")
    limiter = RateLimiter(DynamoBucketStore(), now=lambda: NOW)  # a frozen clock: no refill mid-test
    return MessageService(DynamoMessageStore(), DynamoUserDirectory(), limiter, now=lambda: NOW)


def send(service, sender, content="hello", request_id="req-1", chat_id="project-x"):
    return service.send(sender, SendMessage(request_id=request_id, chat_id=chat_id, content=content))


def test_a_member_sends_and_the_message_is_stored_with_seq_1(service):
    message = send(service, "alice")
    assert message.seq == 1
    assert message.sender_name == "Alice"
    assert message.created_at == datetime.fromtimestamp(NOW, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    stored = MessageModel.get("project-x", 1)
    assert stored.message_id == message.message_id
    assert stored.content == "hello"


def test_seqs_are_allocated_per_chat_and_strictly_increase(service):
    seqs = [send(service, "alice", request_id=f"r{i}").seq for i in range(5)]
    other = send(service, "dave", chat_id="dm-dave-erin", request_id="r0")
    assert seqs == [1, 2, 3, 4, 5]
    assert other.seq == 1


def test_a_non_member_is_forbidden_and_nothing_is_written(service):
    with pytest.raises(Forbidden):
        send(service, "dave")
    assert list(MessageModel.query("project-x")) == []


def test_a_chat_that_does_not_exist_is_forbidden_to_everyone(service):
    with pytest.raises(Forbidden):
        send(service, "alice", chat_id="no-such-chat")


def test_seq_allocation_on_a_missing_chat_is_not_found(aws):
    with pytest.raises(NotFound):
        DynamoMessageStore().allocate_seq("no-such-chat")


def test_a_retry_with_the_same_id_returns_the_original_message_and_writes_nothing_new(service):
    first = send(service, "alice", content="once", request_id="same")
    retry = send(service, "alice", content="once", request_id="same")
    assert retry == first
    assert [m.seq for m in MessageModel.query("project-x")] == [1]
    assert IdempotencyModel.get("message.send#project-x#alice#same").seq == 1


def test_an_expired_claim_no_longer_deduplicates(service):
    first = send(service, "alice", request_id="old")
    claim = IdempotencyModel.get("message.send#project-x#alice#old")
    claim.update(actions=[IdempotencyModel.expires_at.set(datetime.fromtimestamp(time.time() - 1, UTC))])
    again = send(service, "alice", request_id="old")
    assert again.seq == 2
    assert again.message_id != first.message_id


def test_the_same_client_id_in_another_chat_is_a_different_message(service):
    first = send(service, "alice", request_id="same")
    make_chat("other", ["alice"])
    second = send(service, "alice", request_id="same", chat_id="other")
    assert (second.chat_id, second.seq) == ("other", 1)
    assert second.message_id != first.message_id


def test_mentions_keep_members_and_broadcasts_only(service):
    message = send(service, "alice", content="hi @bob and @dave, cc @channel; mail bob@example.com @bob.")
    assert message.mentions == ["bob", "@channel"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("hi @bob", ["bob"]),
        ("@bob @bob @carol", ["bob", "carol"]),
        ("hi @bob.", ["bob"]),
        ("mail bob@example.com", []),
        ("@here!", ["here"]),
        ("@first.last-name", ["first.last-name"]),
        ("@@bob", []),
        ("no mentions", []),
    ],
)
def test_mention_candidates(content, expected):
    assert mention_candidates(content) == expected


def test_resolve_mentions_marks_broadcasts_with_an_at_sign():
    assert resolve_mentions(["bob", "here", "zed"], {"bob"}) == ["bob", "@here"]


def test_an_eleventh_send_within_a_second_is_rate_limited_with_retry_after(service):
    for i in range(10):
        send(service, "alice", request_id=f"burst-{i}")
    with pytest.raises(RateLimited) as raised:
        send(service, "alice", request_id="burst-10")
    assert 0 < raised.value.retry_after_ms <= 1000
    assert len(list(MessageModel.query("project-x"))) == 10


def test_a_fourth_urgent_message_is_rate_limited(service):
    def urgent(request_id):
        return service.send(
            "alice", SendMessage(request_id=request_id, chat_id="project-x", content="fire", priority="urgent")
        )

    for i in range(3):
        urgent(f"u{i}")
    with pytest.raises(RateLimited):
        urgent("u3")


def test_a_reply_names_a_message_of_its_own_chat_deleted_or_not(service):
    original = send(service, "alice", content="question", request_id="q")
    make_chat("other", ["alice"])
    elsewhere = send(service, "alice", request_id="e", chat_id="other")

    def reply(reply_to, request_id):
        request = SendMessage(request_id=request_id, chat_id="project-x", content="answer", reply_to=reply_to)
        return service.send("bob", request)

    assert reply(original.message_id, "a1").reply_to == original.message_id
    for missing in (elsewhere.message_id, "no-such-message"):
        with pytest.raises(NotFound, match=r"^payload\.replyTo:"):
            reply(missing, f"a-{missing}")
    MessageModel("project-x", original.seq).update(actions=[MessageModel.deleted.set(True)])
    assert reply(original.message_id, "a2").reply_to == original.message_id
    with pytest.raises(Forbidden):
        service.send("dave", SendMessage(request_id="d", chat_id="project-x", content="x", reply_to="whatever"))
