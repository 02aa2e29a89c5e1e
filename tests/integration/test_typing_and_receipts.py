"""typing.start/stop, the typing timer consumer, read.mark and the receipts stream consumer."""

import json

import boto3
import pytest

from tests.support.aws import stream_records
from tests.support.events import client_frame, message_event, sqs_event
from tests.support.seed import make_chat
from tests.support.services import message_service, typing_state
from tidings.chats.models import MemberModel
from tidings.kernel.environment import ColdStart
from tidings.messaging.sending import SendMessage
from tidings.notifications.badge_store import DynamoBadgeStore
from tidings.sessions.connection_store import DynamoConnectionStore


@pytest.fixture
def timers_queue(connections, monkeypatch):
    url = boto3.client("sqs").create_queue(QueueName="typing-timers")["QueueUrl"]
    monkeypatch.setenv("TYPING_TIMERS_QUEUE_URL", url)
    ColdStart.forget_all()
    yield url
    ColdStart.forget_all()


@pytest.fixture
def chat(connections):
    make_chat("project-x", ["alice", "bob"])
    store = DynamoConnectionStore()
    store.add("alice-1", "alice", connected_at_ms=1, token_expires_at=2_000_000_000)
    store.add("bob-1", "bob", connected_at_ms=2, token_expires_at=2_000_000_000)


def typing(functions, context, user, frame_type, chat_id="project-x"):
    event = message_event(f"{user}-1", user, client_frame(frame_type, {"chatId": chat_id}), frame_type)
    return functions["typing"].handler(event, context)


def indicators(connections, connection_id):
    frames = [json.loads(data) for data in connections.sent.get(connection_id, [])]
    return [f["payload"]["active"] for f in frames if f["type"] == "typing.indicator"]


def test_typing_start_reaches_the_others_without_a_reply_or_an_echo(
    functions, context, connections, chat, timers_queue
):
    assert typing(functions, context, "alice", "typing.start") == {"statusCode": 200}
    assert indicators(connections, "bob-1") == [True]
    assert indicators(connections, "alice-1") == []
    timer = boto3.client("sqs").get_queue_attributes(
        QueueUrl=timers_queue, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert timer["ApproximateNumberOfMessagesDelayed"] == "1"


def test_the_timer_consumer_reports_the_typer_stopped(functions, context, connections, chat, timers_queue):
    typing(functions, context, "alice", "typing.start")
    started_at = typing_state().started_at("project-x", "alice")
    body = json.dumps({"chat_id": "project-x", "user_id": "alice", "started_at": started_at})
    assert functions["typing_timers"].handler(sqs_event([body]), context) == {"batchItemFailures": []}
    assert indicators(connections, "bob-1") == [True, False]


def test_a_broken_timer_message_is_reported_as_a_batch_item_failure(
    functions, context, connections, chat, timers_queue
):
    typing(functions, context, "alice", "typing.start")
    started_at = typing_state().started_at("project-x", "alice")
    good = json.dumps({"chat_id": "project-x", "user_id": "alice", "started_at": started_at})
    event = sqs_event(["not json", good])
    response = functions["typing_timers"].handler(event, context)
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert indicators(connections, "bob-1") == [True, False], "the good timer in the batch still fired"


def test_typing_in_a_chat_you_are_not_in_gets_forbidden(functions, context, connections, chat, timers_queue):
    response = typing(functions, context, "alice", "typing.start", chat_id="elsewhere")
    assert json.loads(response["body"])["payload"]["error"]["code"] == "FORBIDDEN"


def test_read_mark_moves_the_watermark_and_the_stream_sends_one_receipt(functions, context, connections, chat):
    sent = [
        message_service().send("alice", SendMessage(request_id=f"r{i}", chat_id="project-x", content=f"m{i}"))
        for i in range(3)
    ]
    for message in sent:
        frame = client_frame("read.mark", {"chatId": "project-x", "messageId": message.message_id})
        ack = json.loads(functions["read"].handler(message_event("bob-1", "bob", frame, "read.mark"), context)["body"])
        assert ack["payload"]["status"] == "ok"
        assert ack["payload"]["seq"] == message.seq
    assert MemberModel.get("project-x", "bob").last_read_seq == 3

    batch = {"Records": [r for r in stream_records(MemberModel.Meta.table_name) if r["eventName"] == "MODIFY"]}
    assert len(batch["Records"]) == 6, "alice's three sends moved her watermark, bob's three marks his"
    assert functions["receipts"].handler(batch, context) == {"batchItemFailures": []}

    receipts = [json.loads(data) for data in connections.sent["alice-1"]]
    assert [(r["type"], r["payload"]["seq"], r["payload"]["userId"]) for r in receipts] == [
        ("read.receipt", 3, "bob")
    ], "a burst coalesces to one receipt with the highest seq"
    assert receipts[0]["payload"]["messageId"] == sent[2].message_id
    to_reader = [json.loads(data) for data in connections.sent["bob-1"]]
    assert [f["type"] for f in to_reader] == ["notification.badge"], "the reader gets no receipt of their own"
    assert to_reader[0]["payload"]["unreadCount"] == 0


def test_a_senders_own_message_sends_no_receipt_and_clears_what_they_had_unread(functions, context, connections, chat):
    earlier = message_service().send("alice", SendMessage(request_id="a1", chat_id="project-x", content="question?"))
    DynamoBadgeStore().increment("project-x", "bob", mentioned=False, seq=earlier.seq)  # as Notify does
    reply = message_service().send("bob", SendMessage(request_id="b1", chat_id="project-x", content="answer"))
    bob = MemberModel.get("project-x", "bob")
    assert (bob.last_read_seq, bob.last_read_message_id) == (reply.seq, reply.message_id)

    batch = {"Records": [r for r in stream_records(MemberModel.Meta.table_name) if r["eventName"] == "MODIFY"]}
    assert functions["receipts"].handler(batch, context) == {"batchItemFailures": []}

    to_alice = [json.loads(data)["type"] for data in connections.sent.get("alice-1", [])]
    assert "read.receipt" not in to_alice, "the message.new already says bob has seen it"
    to_bob = [json.loads(data) for data in connections.sent["bob-1"]]
    assert [(f["type"], f["payload"]["unreadCount"]) for f in to_bob] == [("notification.badge", 0)]
    assert MemberModel.get("project-x", "bob").unread_count == 0, "sending marks the chat read up to it"


def test_a_message_the_recipient_has_already_read_past_is_not_counted(connections, chat):
    first = message_service().send("alice", SendMessage(request_id="a1", chat_id="project-x", content="one"))
    second = message_service().send("bob", SendMessage(request_id="b1", chat_id="project-x", content="two"))
    # Notify runs behind: by the time it counts alice's message, bob has already replied after it.
    assert DynamoBadgeStore().increment("project-x", "bob", mentioned=False, seq=first.seq) is None
    assert MemberModel.get("project-x", "bob").unread_count == 0
    assert DynamoBadgeStore().increment("project-x", "alice", mentioned=False, seq=second.seq).unread_count == 1
