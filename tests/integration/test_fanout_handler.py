"""The Messages stream consumer, fed real DynamoDB stream records (moto)."""

import json
import os

import boto3

from tests.support.aws import stream_records
from tests.support.seed import make_chat
from tidings.domain.messages import SendMessage
from tidings.storage.connections import DynamoConnectionStore
from tidings.storage.models import MessageModel
from tidings.wiring import message_service


def _send(sender, chat_id, request_id, content="hello"):
    return message_service().send(sender, SendMessage(request_id=request_id, chat_id=chat_id, content=content))


def _connect(connection_id, user_id, at):
    DynamoConnectionStore().add(connection_id, user_id, connected_at_ms=at, token_expires_at=2_000_000_000)


def _batch():
    return {"Records": stream_records(MessageModel.Meta.table_name)}


def test_a_new_message_reaches_every_connection_of_every_member(functions, context, connections):
    make_chat("project-x", ["alice", "bob", "carol"])
    _connect("alice-1", "alice", 1)
    _connect("alice-2", "alice", 2)
    _connect("bob-1", "bob", 3)
    _connect("dave-1", "dave", 4)  # not a member
    message = _send("alice", "project-x", "r1")

    response = functions["fanout"].handler(_batch(), context)

    assert response == {"batchItemFailures": []}
    assert set(connections.sent) == {"alice-1", "alice-2", "bob-1"}
    frame = json.loads(connections.sent["bob-1"][0])
    assert frame["type"] == "message.new"
    assert frame["payload"]["chatId"] == "project-x"
    assert frame["payload"]["seq"] == 1
    assert frame["payload"]["message"]["messageId"] == message.message_id
    assert frame["payload"]["message"]["content"] == "hello"


def test_a_gone_connection_is_removed_and_the_others_still_get_the_message(functions, context, connections):
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    _connect("bob-old", "bob", 1)
    _connect("bob-new", "bob", 2)
    connections.gone.add("bob-old")
    _send("alice", "dm-alice-bob", "r1")

    assert functions["fanout"].handler(_batch(), context) == {"batchItemFailures": []}
    assert list(connections.sent) == ["bob-new"]
    assert DynamoConnectionStore().for_user("bob") == ["bob-new"]


def test_a_failing_record_is_reported_and_the_rest_of_the_batch_is_delivered(functions, context, connections):
    make_chat("broken-chat", ["alice", "erin"])
    make_chat("fine-chat", ["alice", "bob"])
    _connect("erin-1", "erin", 1)
    _connect("bob-1", "bob", 2)
    connections.broken.add("erin-1")
    _send("alice", "broken-chat", "r1")
    _send("alice", "fine-chat", "r2")
    batch = _batch()
    failing = next(r for r in batch["Records"] if r["dynamodb"]["Keys"]["chatId"]["S"] == "broken-chat")

    response = functions["fanout"].handler(batch, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": failing["dynamodb"]["SequenceNumber"]}]}
    assert len(connections.sent["bob-1"]) == 1


def test_records_that_are_not_new_chat_events_are_skipped(functions, context, connections):
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    _connect("bob-1", "bob", 1)
    _send("alice", "dm-alice-bob", "r1")
    insert = _batch()["Records"][0]
    modify = json.loads(json.dumps(insert))
    modify["eventName"] = "REMOVE"
    del modify["dynamodb"]["NewImage"]

    assert functions["fanout"].handler({"Records": [modify]}, context) == {"batchItemFailures": []}
    assert connections.sent == {}


def test_edit_delete_and_reaction_events_are_delivered_with_their_seqs(functions, context, connections):
    from tidings.wiring import chat_event_service

    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    _connect("bob-1", "bob", 1)
    message = _send("alice", "dm-alice-bob", "r1", content="first draft")
    chat_event_service().edit("alice", "e1", message.message_id, "final")
    chat_event_service().react("bob", "x1", message.message_id, "👍", "add")
    chat_event_service().delete("alice", "d1", message.message_id)

    assert functions["fanout"].handler(_batch(), context) == {"batchItemFailures": []}

    frames = [json.loads(data) for data in connections.sent["bob-1"]]
    assert [(f["type"], f["payload"]["seq"]) for f in frames] == [
        ("message.new", 1),
        ("message.updated", 2),
        ("message.reaction", 3),
        ("message.deleted", 4),
    ]
    assert frames[3]["payload"]["messageId"] == message.message_id
    # Rendered as the message is now: after the delete, no frame carries its content any more.
    assert frames[1]["payload"]["message"]["deleted"] is True
    assert frames[1]["payload"]["message"]["content"] is None
    assert frames[2]["payload"]["reactions"] == {}


def test_the_notify_consumer_raises_badges_from_the_stream(functions, context, connections):
    from tests.support.lambdas import load_function

    notify = load_function("notify/notify.py")
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    _connect("bob-1", "bob", 1)
    _send("alice", "dm-alice-bob", "r1", content="hi @bob")

    assert notify.handler(_batch(), context) == {"batchItemFailures": []}
    badge, toast = [json.loads(data) for data in connections.sent["bob-1"]]
    assert badge["type"] == "notification.badge"
    assert (badge["payload"]["unreadCount"], badge["payload"]["mentionCount"]) == (1, 1)
    assert toast["type"] == "notification.toast"
    assert (toast["payload"]["title"], toast["payload"]["body"]) == ("Alice", "hi @bob")


def test_the_notify_consumer_queues_a_push_for_an_offline_recipient(functions, context, connections):
    from tests.support.lambdas import load_function

    notify = load_function("notify/notify.py")
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    _send("alice", "dm-alice-bob", "r1", content="are you there?")

    assert notify.handler(_batch(), context) == {"batchItemFailures": []}
    sqs = boto3.client("sqs")
    (job,) = sqs.receive_message(QueueUrl=os.environ["PUSH_JOBS_QUEUE_URL"], MaxNumberOfMessages=10)["Messages"]
    body = json.loads(job["Body"])["notification"]
    assert (body["user_id"], body["title"], body["body"], body["total_unread"]) == ("bob", "Alice", "are you there?", 1)


def test_the_notify_consumer_takes_a_deleted_message_out_of_the_badges(functions, context, connections):
    from tests.support.lambdas import load_function
    from tidings.wiring import chat_event_service

    notify = load_function("notify/notify.py")
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    _connect("bob-1", "bob", 1)
    gone = _send("alice", "dm-alice-bob", "r1", content="wrong chat, @bob")
    assert notify.handler(_batch(), context) == {"batchItemFailures": []}
    connections.sent.clear()

    chat_event_service().delete("alice", "d1", gone.message_id)
    delete_records = [r for r in _batch()["Records"] if r["dynamodb"]["NewImage"]["kind"]["S"] == "delete"]
    assert notify.handler({"Records": delete_records}, context) == {"batchItemFailures": []}
    (badge,) = [json.loads(data) for data in connections.sent["bob-1"]]
    assert badge["type"] == "notification.badge"
    assert (badge["payload"]["unreadCount"], badge["payload"]["mentionCount"]) == (0, 0)
    assert (badge["payload"]["totalUnreadCount"], badge["payload"]["totalMentionCount"]) == (0, 0)
