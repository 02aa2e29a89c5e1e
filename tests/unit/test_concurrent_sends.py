"""Concurrent message.send on one chat: every send gets its own seq, with no gaps.

moto itself is not thread-safe for read-modify-write, so the test installs the local runtime's
moto serialization, which stands in for DynamoDB's per-item atomicity. What is under test is
ours: the seq comes from one atomic ADD, and the message write cannot lose or reuse it.
"""

import time
from concurrent.futures import ThreadPoolExecutor

from tests.support.fakes import NoLimits
from tests.support.seed import make_chat
from tidings.chats.directory import DynamoUserDirectory
from tidings.chats.models import ChatModel
from tidings.messaging.chat_events import ChatEventService
from tidings.messaging.message_store import DynamoMessageStore
from tidings.messaging.models import MessageModel
from tidings.messaging.sending import MessageService, SendMessage
from tidings_local import moto_patches

SENDS = 40


def test_concurrent_sends_get_distinct_gapless_seqs(aws):
    moto_patches.install()
    make_chat("general", ["alice", "bob", "carol", "dave", "erin"])
    service = MessageService(DynamoMessageStore(), DynamoUserDirectory(), NoLimits(), now=time.time)
    senders = ["alice", "bob", "carol", "dave", "erin"]

    def send(i: int):
        request = SendMessage(request_id=f"r{i}", chat_id="general", content=f"message {i}")
        return service.send(senders[i % len(senders)], request)

    with ThreadPoolExecutor(max_workers=16) as pool:
        messages = list(pool.map(send, range(SENDS)))

    assert sorted(m.seq for m in messages) == list(range(1, SENDS + 1))
    stored = {int(item.seq): item.message_id for item in MessageModel.query("general")}
    assert stored == {m.seq: m.message_id for m in messages}, "every ack's seq holds that message"
    assert ChatModel.get("general").head_seq == SENDS


def test_concurrent_retries_and_edits_never_duplicate(aws):
    moto_patches.install()
    make_chat("general", ["alice", "bob"])
    store, users = DynamoMessageStore(), DynamoUserDirectory()
    sending = MessageService(store, users, NoLimits(), now=time.time)
    events = ChatEventService(store, users, NoLimits(), now=time.time)
    original = sending.send("alice", SendMessage(request_id="once", chat_id="general", content="v1"))

    def retry_and_edit(i: int):
        retried = sending.send("alice", SendMessage(request_id="once", chat_id="general", content="v1"))
        edited = events.edit("alice", "edit-once", original.message_id, "v2")
        return retried, edited

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(retry_and_edit, range(12)))

    assert {retried.message_id for retried, _ in results} == {original.message_id}
    assert {edited.seq for _, edited in results} == {results[0][1].seq}, "one edit event, whatever the retries"
    kinds = [item.kind for item in MessageModel.query("general")]
    assert kinds == ["message", "edit"]
