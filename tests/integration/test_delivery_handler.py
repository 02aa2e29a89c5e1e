"""The Messages stream's Delivery consumer (fan-out, then notifications) and the retry
functions behind it, fed real DynamoDB stream records and SQS events (moto)."""

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

    response = functions["delivery"].handler(_batch(), context)

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

    assert functions["delivery"].handler(_batch(), context) == {"batchItemFailures": []}
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

    # The record succeeds: erin's frames are owed to erin alone, on the retry queue.
    assert functions["delivery"].handler(_batch(), context) == {"batchItemFailures": []}
    assert list(connections.sent) == ["bob-1"]
    # One job for erin alone: the message, then its badge and toast (protocol v1), as one delivery.
    (job,) = _retry_jobs()
    body = json.loads(job["Body"])
    assert (body["connectionIds"], body["attempt"]) == (["erin-1"], 2)
    frames = [json.loads(data) for data in body["frames"]]
    assert [f["type"] for f in frames] == ["message.new", "notification.badge", "notification.toast"]
    assert frames[0]["payload"]["message"]["messageId"] == message.message_id

    # The retry, once erin's connection answers again, reaches erin and only erin.
    connections.broken.clear()
    response = functions["delivery_retry"].handler(sqs_event([job["Body"]]), context)
    assert response == {"batchItemFailures": []}
    bob = [json.loads(data)["type"] for data in connections.sent["bob-1"]]
    assert bob == ["message.new", "notification.badge", "notification.toast"]
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
    real = Store.for_users

    def for_users(self, user_ids):
        if "carol" in user_ids:
            raise RuntimeError("Connections is throttled")
        return real(self, user_ids)

    monkeypatch.setattr(Store, "for_users", for_users)

    with pytest.raises(BatchProcessingError):  # the whole batch failed: the mapping retries it
        functions["delivery"].handler(_batch(), context)
    assert connections.sent == {}  # bob was not posted to, so the retry cannot repeat anything


def test_records_that_are_not_new_chat_events_are_skipped(functions, context, connections):
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    _connect("bob-1", "bob", 1)
    _send("alice", "dm-alice-bob", "r1")
    insert = _batch()["Records"][0]
    modify = json.loads(json.dumps(insert))
    modify["eventName"] = "REMOVE"
    del modify["dynamodb"]["NewImage"]

    assert functions["delivery"].handler({"Records": [modify]}, context) == {"batchItemFailures": []}
    assert connections.sent == {}


def test_edit_delete_and_reaction_events_are_delivered_with_their_seqs(functions, context, connections):
    from tests.support.services import chat_event_service

    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    _connect("bob-1", "bob", 1)
    message = _send("alice", "dm-alice-bob", "r1", content="first draft")
    chat_event_service().edit("alice", "e1", message.message_id, "final")
    chat_event_service().react("bob", "x1", message.message_id, "👍", "add")
    chat_event_service().delete("alice", "d1", message.message_id)

    assert functions["delivery"].handler(_batch(), context) == {"batchItemFailures": []}

    frames = [f for f in _frames(connections, "bob-1") if f["type"].startswith("message.")]  # not the badges
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


def _frames(connections, connection_id) -> list[dict]:
    return [json.loads(data) for data in connections.sent.get(connection_id, [])]


def test_the_delivery_consumer_posts_the_message_then_raises_badges_and_toasts(functions, context, connections):
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    _connect("bob-1", "bob", 1)
    _send("alice", "dm-alice-bob", "r1", content="hi @bob")

    assert functions["delivery"].handler(_batch(), context) == {"batchItemFailures": []}
    new, badge, toast = _frames(connections, "bob-1")
    assert new["type"] == "message.new"  # delivery first: notification work never delays it
    assert badge["type"] == "notification.badge"
    assert (badge["payload"]["unreadCount"], badge["payload"]["mentionCount"]) == (1, 1)
    assert toast["type"] == "notification.toast"
    assert (toast["payload"]["title"], toast["payload"]["body"]) == ("Alice", "hi @bob")


def test_the_delivery_consumer_reads_members_and_connections_once_for_both(
    functions, context, connections, monkeypatch
):
    from tidings.chats.directory import DynamoMemberDirectory

    make_chat("project-x", ["alice", "bob", "carol"])
    _connect("bob-1", "bob", 1)
    _send("alice", "project-x", "r1")
    reads: list[object] = []
    real_members, real_connections = DynamoMemberDirectory.member_ids, DynamoConnectionStore.for_users
    monkeypatch.setattr(DynamoMemberDirectory, "member_ids", lambda s, c: reads.append(c) or real_members(s, c))
    monkeypatch.setattr(
        DynamoConnectionStore, "for_users", lambda s, u: reads.append(sorted(u)) or real_connections(s, u)
    )

    assert functions["delivery"].handler(_batch(), context) == {"batchItemFailures": []}
    assert reads == ["project-x", ["alice", "bob", "carol"]], "the members once, then their connections in one batch"
    assert [f["type"] for f in _frames(connections, "bob-1")] == [
        "message.new",
        "notification.badge",
        "notification.toast",
    ]


def test_the_delivery_consumer_queues_a_push_for_an_offline_recipient(functions, context, connections):
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    _send("alice", "dm-alice-bob", "r1", content="are you there?")

    assert functions["delivery"].handler(_batch(), context) == {"batchItemFailures": []}
    sqs = boto3.client("sqs")
    (job,) = sqs.receive_message(QueueUrl=os.environ["PUSH_JOBS_QUEUE_URL"], MaxNumberOfMessages=10)["Messages"]
    body = json.loads(job["Body"])["notification"]
    assert (body["user_id"], body["title"], body["body"], body["total_unread"]) == ("bob", "Alice", "are you there?", 1)


def test_the_delivery_consumer_takes_a_deleted_message_out_of_the_badges(functions, context, connections):
    from tests.support.services import chat_event_service

    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    _connect("bob-1", "bob", 1)
    gone = _send("alice", "dm-alice-bob", "r1", content="wrong chat, @bob")
    assert functions["delivery"].handler(_batch(), context) == {"batchItemFailures": []}
    connections.sent.clear()

    chat_event_service().delete("alice", "d1", gone.message_id)
    delete_records = [r for r in _batch()["Records"] if r["dynamodb"]["NewImage"]["kind"]["S"] == "delete"]
    assert functions["delivery"].handler({"Records": delete_records}, context) == {"batchItemFailures": []}
    deleted, badge = _frames(connections, "bob-1")
    assert deleted["type"] == "message.deleted"
    assert badge["type"] == "notification.badge"
    assert (badge["payload"]["unreadCount"], badge["payload"]["mentionCount"]) == (0, 0)
    assert (badge["payload"]["totalUnreadCount"], badge["payload"]["totalMentionCount"]) == (0, 0)


def _notification_retries() -> list[dict]:
    url = os.environ["NOTIFICATION_RETRIES_QUEUE_URL"]
    return boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=10)["Messages"]


def _preferences_down(monkeypatch) -> None:
    from tidings.notifications.preference_store import DynamoPreferenceStore

    def for_users(self, user_ids):
        raise RuntimeError("Users is throttled")

    monkeypatch.setattr(DynamoPreferenceStore, "for_users", for_users)


def test_a_notification_failure_neither_prevents_nor_repeats_delivery(functions, context, connections, monkeypatch):
    from tidings.chats.models import MemberModel

    make_chat("project-x", ["alice", "bob", "carol"])
    _connect("bob-1", "bob", 1)
    _connect("carol-1", "carol", 2)
    message = _send("alice", "project-x", "r1", content="hi @bob")
    with monkeypatch.context() as patched:
        _preferences_down(patched)
        # The record succeeds: the frames are out, the notification work waits on its own queue.
        assert functions["delivery"].handler(_batch(), context) == {"batchItemFailures": []}
    assert [f["type"] for f in _frames(connections, "bob-1")] == ["message.new"]
    assert [f["type"] for f in _frames(connections, "carol-1")] == ["message.new"]
    assert int(MemberModel.get("project-x", "bob").unread_count or 0) == 0
    (job,) = _notification_retries()

    # The retry does the notification work, and only it: nobody gets message.new again.
    response = functions["notify_retry"].handler(sqs_event([job["Body"]]), context)
    assert response == {"batchItemFailures": []}
    bob = _frames(connections, "bob-1")
    assert [f["type"] for f in bob] == ["message.new", "notification.badge", "notification.toast"]
    assert bob[2]["payload"]["messageId"] == message.message_id
    assert [f["type"] for f in _frames(connections, "carol-1")] == [
        "message.new",
        "notification.badge",
        "notification.toast",
    ]
    assert (
        int(MemberModel.get("project-x", "bob").unread_count),
        MemberModel.get("project-x", "bob").mention_count,
    ) == (1, 1)


def test_a_notification_retry_that_fails_again_is_left_to_sqs_and_its_dlq(functions, context, connections, monkeypatch):
    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    _connect("bob-1", "bob", 1)
    _send("alice", "dm-alice-bob", "r1")
    _preferences_down(monkeypatch)
    assert functions["delivery"].handler(_batch(), context) == {"batchItemFailures": []}
    (job,) = _notification_retries()
    event = sqs_event([job["Body"], "{not a retry job"])

    response = functions["notify_retry"].handler(event, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}
    assert [f["type"] for f in _frames(connections, "bob-1")] == ["message.new"]


def test_when_the_notification_retry_queue_fails_too_the_record_fails_rather_than_lose_it(
    functions, context, connections, monkeypatch
):
    from tidings.kernel.delay_queue import DelayQueue

    make_chat("dm-alice-bob", ["alice", "bob"], chat_type="dm")
    _connect("bob-1", "bob", 1)
    _send("alice", "dm-alice-bob", "r1")
    _preferences_down(monkeypatch)
    real_schedule = DelayQueue.schedule

    def schedule(self, job, delay_seconds=0):
        if self._queue_url == os.environ["NOTIFICATION_RETRIES_QUEUE_URL"]:
            raise RuntimeError("SQS is down")
        return real_schedule(self, job, delay_seconds)

    monkeypatch.setattr(DelayQueue, "schedule", schedule)

    with pytest.raises(BatchProcessingError):  # the mapping retries the record, then parks it
        functions["delivery"].handler(_batch(), context)
    # The decision comes before the post, so the record failed before anybody got it: its retry
    # repeats nothing.
    assert connections.sent == {}
