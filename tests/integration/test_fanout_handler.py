"""The Messages stream consumer, fed real DynamoDB stream records (moto)."""

import json
import os

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from tests.support.aws import stream_records
from tests.support.events import sqs_event
from tests.support.seed import make_chat
from tests.support.services import message_service
from tidings.messaging.models import MessageModel
from tidings.messaging.sending import SendMessage
from tidings.sessions.connection_store import DynamoConnectionStore


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


def _retry_jobs() -> list[dict]:
    """The delivery retry queue's messages, once their delay is over (received: seen once)."""
    sqs = boto3.client("sqs")
    url = os.environ["DELIVERY_RETRIES_QUEUE_URL"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    waiting = int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesDelayed"])
    if not waiting:
        return []
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=5)["Messages"]


def _delayed() -> int:
    url = os.environ["DELIVERY_RETRIES_QUEUE_URL"]
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessagesDelayed"])


def _purge() -> None:
    boto3.client("sqs").purge_queue(QueueUrl=os.environ["DELIVERY_RETRIES_QUEUE_URL"])


def test_a_failing_connection_is_retried_alone_and_nobody_else_gets_the_frame_twice(functions, context, connections):
    make_chat("project-x", ["alice", "bob", "erin"])
    _connect("erin-1", "erin", 1)
    _connect("bob-1", "bob", 2)
    connections.broken.add("erin-1")
    message = _send("alice", "project-x", "r1")

    # The record succeeds: erin's frame is owed to erin alone, on the retry queue.
    assert functions["fanout"].handler(_batch(), context) == {"batchItemFailures": []}
    assert list(connections.sent) == ["bob-1"]
    [job] = _retry_jobs()
    body = json.loads(job["Body"])
    assert (body["connectionIds"], body["attempt"]) == (["erin-1"], 2)
    assert json.loads(body["frames"][0])["payload"]["message"]["messageId"] == message.message_id

    # The retry, once erin's connection answers again, reaches erin and only erin.
    connections.broken.clear()
    response = functions["delivery_retry"].handler(sqs_event([job["Body"]]), context)
    assert response == {"batchItemFailures": []}
    assert len(connections.sent["bob-1"]) == 1
    assert connections.sent["erin-1"] == body["frames"]
    assert _retry_jobs() == []


def test_a_retry_that_fails_again_backs_off_and_the_last_one_gives_up(functions, context, connections):
    _connect("erin-1", "erin", 1)
    connections.broken.add("erin-1")
    job = json.dumps({"connectionIds": ["erin-1"], "frames": ['{"type":"message.new"}'], "attempt": 2})

    assert functions["delivery_retry"].handler(sqs_event([job]), context) == {"batchItemFailures": []}
    assert _delayed() == 1  # attempt 3, due in 5 s (tests/unit/test_fanout.py checks the schedule)
    _purge()

    last = json.dumps({"connectionIds": ["erin-1"], "frames": ['{"type":"message.new"}'], "attempt": 4})
    assert functions["delivery_retry"].handler(sqs_event([last]), context) == {"batchItemFailures": []}
    assert _retry_jobs() == []  # given up: erin's client fills the gap with sync.request
    assert connections.sent == {}


def test_a_job_that_is_not_a_redelivery_fails_its_record_for_the_dlq(functions, context, connections):
    event = sqs_event(["{not json", json.dumps({"connectionIds": [], "frames": ["x"], "attempt": 2})])

    response = functions["delivery_retry"].handler(event, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}


def test_a_record_whose_reads_fail_is_retried_before_anybody_got_it(functions, context, connections, monkeypatch):
    from tidings.sessions.connection_store import DynamoConnectionStore as Store

    make_chat("project-x", ["alice", "bob", "carol"])
    _connect("bob-1", "bob", 1)
    _connect("carol-1", "carol", 2)
    _send("alice", "project-x", "r1")
    real = Store.for_user

    def for_user(self, user_id):
        if user_id == "carol":
            raise RuntimeError("Connections is throttled")
        return real(self, user_id)

    monkeypatch.setattr(Store, "for_user", for_user)

    with pytest.raises(BatchProcessingError):  # the whole batch failed: the mapping retries it
        functions["fanout"].handler(_batch(), context)
    assert connections.sent == {}  # bob was not posted to, so the retry cannot repeat anything


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
    from tests.support.services import chat_event_service

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

    notify = load_function("notifications/notify_consumer.py")
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

    notify = load_function("notifications/notify_consumer.py")
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    _send("alice", "dm-alice-bob", "r1", content="are you there?")

    assert notify.handler(_batch(), context) == {"batchItemFailures": []}
    sqs = boto3.client("sqs")
    (job,) = sqs.receive_message(QueueUrl=os.environ["PUSH_JOBS_QUEUE_URL"], MaxNumberOfMessages=10)["Messages"]
    body = json.loads(job["Body"])["notification"]
    assert (body["user_id"], body["title"], body["body"], body["total_unread"]) == ("bob", "Alice", "are you there?", 1)


def test_the_notify_consumer_takes_a_deleted_message_out_of_the_badges(functions, context, connections):
    from tests.support.lambdas import load_function
    from tests.support.services import chat_event_service

    notify = load_function("notifications/notify_consumer.py")
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
