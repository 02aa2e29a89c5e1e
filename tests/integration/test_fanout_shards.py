"""A big chat's fan-out in shards: the Delivery consumer hands a new message to a chat of more
than SHARD_ABOVE_MEMBERS members (or SHARD_ABOVE_CONNECTIONS connections) to the FanoutShards
queue in message shards of members, and each fan-out worker does its members' notification work
and posts each of their connections once; other frames (an edit, say) go as shards of
connections. Moto, real stream records and SQS events."""

import json
import os
from collections import Counter

import boto3
import pytest

from tests.support.aws import stream_records
from tests.support.events import sqs_event
from tests.support.seed import make_chat
from tests.support.services import chat_event_service, message_service
from tidings.chats.models import MemberModel
from tidings.messaging import fanout, fanout_shards
from tidings.messaging.models import MessageModel
from tidings.messaging.sending import SendMessage
from tidings.notifications.badge_store import DynamoBadgeStore
from tidings.sessions.connection_store import DynamoConnectionStore

# Small stand-ins for the real sizes (500 and 250, whose cut tests/unit/test_fanout.py checks):
# the path is the same, and 500 members through moto cost the suite a minute a test.
SHARD_ABOVE = 12
SHARD_SIZE = 5
MEMBERS = SHARD_ABOVE + 1  # one connection each: two full shards and one of 3


@pytest.fixture(autouse=True)
def small_shards(monkeypatch):
    monkeypatch.setattr(fanout, "SHARD_ABOVE_CONNECTIONS", SHARD_ABOVE)
    monkeypatch.setattr(fanout_shards, "SHARD_ABOVE_CONNECTIONS", SHARD_ABOVE)
    monkeypatch.setattr(fanout_shards, "SHARD_ABOVE_MEMBERS", SHARD_ABOVE)
    monkeypatch.setattr(fanout_shards, "SHARD_CONNECTIONS", SHARD_SIZE)
    monkeypatch.setattr(fanout_shards, "SHARD_MEMBERS", SHARD_SIZE)


def _receive_all(queue_env: str) -> list[dict]:
    """Every message on the queue, those still delayed (a retry's backoff) once they are due."""
    sqs, url = boto3.client("sqs"), os.environ[queue_env]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    waiting = sum(int(attributes[name]) for name in names)
    messages: list[dict] = []
    for _ in range(waiting):  # each receive returns at least one once any is due
        if len(messages) >= waiting:
            break
        messages += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=5).get("Messages", [])
    return messages


def _big_chat(chat_id: str, members: int, *, online: int | None = None, version: int | None = None) -> None:
    """A channel of `members` members, `user-000` …; the first `online` (all by default) with
    one connection each, `conn-000` …, that said hello with `version` (None: never did)."""
    user_ids = [f"user-{n:03d}" for n in range(members)]
    make_chat(chat_id, user_ids, chat_type="channel")
    store = DynamoConnectionStore()
    for n, user_id in enumerate(user_ids[: members if online is None else online]):
        store.add(f"conn-{n:03d}", user_id, connected_at_ms=n, token_expires_at=2_000_000_000)
        if version is not None:
            store.set_protocol(f"conn-{n:03d}", version, "pytest/1.0")


def _types(frames: list[str]) -> list[str]:
    return [json.loads(frame)["type"] for frame in frames]


def _deliver(functions, context) -> None:
    batch = {"Records": stream_records(MessageModel.Meta.table_name)}
    assert functions["delivery"].handler(batch, context) == {"batchItemFailures": []}


def _run_shards(functions, context) -> list[dict]:
    """Each shard on the queue given to a fan-out worker (batch size 1, as the event source
    mapping sends them); the shards' bodies."""
    shards = _receive_all("FANOUT_SHARDS_QUEUE_URL")
    for shard in shards:
        assert functions["fanout_worker"].handler(sqs_event([shard["Body"]]), context) == {"batchItemFailures": []}
    return [json.loads(shard["Body"]) for shard in shards]


def _unread(chat_id: str, user_id: str) -> int:
    return int(MemberModel.get(chat_id, user_id).unread_count or 0)


def test_a_big_chats_message_goes_out_in_member_shards_each_connection_posted_once(functions, context, connections):
    _big_chat("town-hall", MEMBERS)
    connections.broken.add("conn-007")  # fails every post until it recovers
    message = message_service().send("user-000", SendMessage(request_id="r1", chat_id="town-hall", content="hi all"))

    _deliver(functions, context)

    assert connections.sent == {}, "the consumer posts nothing itself: no message.new, no badge"
    assert _unread("town-hall", "user-001") == 0, "nor does it count the badges: the workers do"
    bodies = _run_shards(functions, context)
    assert sorted(len(body["audience"]) for body in bodies) == [MEMBERS - 2 * SHARD_SIZE, SHARD_SIZE, SHARD_SIZE]
    assert sorted(user for body in bodies for user in body["audience"]) == [f"user-{n:03d}" for n in range(MEMBERS)]

    # v1 connections (no hello): message.new, then the badge and the toast.
    for n in range(1, MEMBERS):
        if n != 7:
            assert _types(connections.sent[f"conn-{n:03d}"]) == [
                "message.new",
                "notification.badge",
                "notification.toast",
            ]
        assert _unread("town-hall", f"user-{n:03d}") == 1, "every recipient's badge counted once"
    assert _types(connections.sent["conn-000"]) == ["message.new"], "the sender gets no badge"
    # The failing connection alone is owed its frames, on the delivery retry queue.
    assert "conn-007" not in connections.sent
    [retry] = _receive_all("DELIVERY_RETRIES_QUEUE_URL")
    job = json.loads(retry["Body"])
    assert (job["connectionIds"], job["attempt"]) == (["conn-007"], 2)
    assert _types(job["frames"]) == ["message.new", "notification.badge", "notification.toast"]
    assert json.loads(job["frames"][0])["payload"]["message"]["messageId"] == message.message_id

    connections.broken.clear()
    assert functions["delivery_retry"].handler(sqs_event([retry["Body"]]), context) == {"batchItemFailures": []}
    assert _types(connections.sent["conn-007"]) == ["message.new", "notification.badge", "notification.toast"]
    everyone = Counter(c for c, frames in connections.sent.items() for t in _types(frames) if t == "message.new")
    assert len(everyone) == MEMBERS and set(everyone.values()) == {1}, "exactly one message.new each"


def test_on_protocol_v2_each_connection_of_a_big_chat_gets_one_post_carrying_its_badge(functions, context, connections):
    _big_chat("town-hall", MEMBERS, version=2)
    message_service().send("user-000", SendMessage(request_id="r1", chat_id="town-hall", content="hi @user-003"))

    _deliver(functions, context)
    _run_shards(functions, context)

    assert {c: len(posts) for c, posts in connections.sent.items()} == {f"conn-{n:03d}": 1 for n in range(MEMBERS)}
    frames = {c: json.loads(data) for c, (data,) in connections.sent.items()}
    assert {frame["type"] for frame in frames.values()} == {"message.new"}
    assert "badge" not in frames["conn-000"]["payload"], "the sender is not notified"
    for n in range(1, MEMBERS):
        badge = frames[f"conn-{n:03d}"]["payload"]["badge"]
        assert (badge["unreadCount"], badge["totalUnreadCount"]) == (1, 1)
        assert frames[f"conn-{n:03d}"]["payload"]["toast"]["body"] == "hi @user-003", "alerted, in the same frame"
    assert frames["conn-003"]["payload"]["badge"]["mentionCount"] == 1
    assert frames["conn-004"]["payload"]["badge"]["mentionCount"] == 0


def test_a_chat_of_many_members_but_few_online_is_sharded_by_members_and_the_offline_are_counted(
    functions, context, connections
):
    _big_chat("announcements", MEMBERS, online=2, version=2)
    message_service().send("user-000", SendMessage(request_id="r1", chat_id="announcements", content="news"))

    _deliver(functions, context)
    assert connections.sent == {}
    bodies = _run_shards(functions, context)

    assert len(bodies) == 3, "members, not connections, make a message's shards"
    assert sorted(connections.sent) == ["conn-000", "conn-001"]
    assert [_unread("announcements", f"user-{n:03d}") for n in range(1, MEMBERS)] == [1] * (MEMBERS - 1)


def test_a_shard_whose_decision_fails_posts_the_message_plain_and_retries_only_its_members(
    functions, context, connections, monkeypatch
):
    _big_chat("town-hall", MEMBERS, version=2)
    message_service().send("user-000", SendMessage(request_id="r1", chat_id="town-hall", content="hi all"))
    _deliver(functions, context)
    shards = sorted(
        _receive_all("FANOUT_SHARDS_QUEUE_URL"), key=lambda shard: sorted(json.loads(shard["Body"])["audience"])
    )
    failing = shards[0]
    failing_members = sorted(json.loads(failing["Body"])["audience"])
    real_increment = DynamoBadgeStore.increment

    def increment_down(self, chat_id, user_id, mentioned, seq=None):
        if user_id in failing_members:
            raise RuntimeError("the Members table is throttling")
        return real_increment(self, chat_id, user_id, mentioned, seq)

    monkeypatch.setattr(DynamoBadgeStore, "increment", increment_down)
    for shard in shards:
        assert functions["fanout_worker"].handler(sqs_event([shard["Body"]]), context) == {"batchItemFailures": []}

    for n in range(MEMBERS):
        [frame] = [json.loads(data) for data in connections.sent[f"conn-{n:03d}"]]
        assert frame["type"] == "message.new", "everyone got the message, once"
        carried = "badge" in frame["payload"]
        assert carried == (f"user-{n:03d}" not in failing_members and n != 0)
    [retry] = _receive_all("NOTIFICATION_RETRIES_QUEUE_URL")
    assert sorted(json.loads(retry["Body"])["userIds"]) == failing_members

    monkeypatch.setattr(DynamoBadgeStore, "increment", real_increment)
    assert functions["notify_retry"].handler(sqs_event([retry["Body"]]), context) == {"batchItemFailures": []}
    for n in range(1, MEMBERS):
        assert _unread("town-hall", f"user-{n:03d}") == 1, "each badge counted once: the retry did its shard's only"
    for user_id in failing_members:
        connection_id = "conn-" + user_id.removeprefix("user-")
        if connection_id != "conn-000":
            assert _types(connections.sent[connection_id]) == [
                "message.new",
                "notification.badge",
                "notification.toast",
            ]


def test_an_edit_in_a_big_chat_goes_out_in_shards_of_connections(functions, context, connections):
    _big_chat("town-hall", MEMBERS, version=2)
    message = message_service().send("user-000", SendMessage(request_id="r1", chat_id="town-hall", content="hi all"))
    chat_event_service().edit("user-000", "e1", message.message_id, "hi everyone")
    [edit] = [r for r in stream_records(MessageModel.Meta.table_name) if r["eventName"] == "INSERT"][1:]
    assert functions["delivery"].handler({"Records": [edit]}, context) == {"batchItemFailures": []}

    bodies = _run_shards(functions, context)

    assert all("record" not in body for body in bodies), "the same frame for everyone: shards of connections"
    assert sorted(len(body["connectionIds"]) for body in bodies) == [MEMBERS - 2 * SHARD_SIZE, SHARD_SIZE, SHARD_SIZE]
    assert {c: _types(frames) for c, frames in connections.sent.items()} == {
        f"conn-{n:03d}": ["message.updated"] for n in range(MEMBERS)
    }


def test_a_shard_job_that_is_neither_kind_fails_its_record_for_the_dlq(functions, context, connections):
    body = json.dumps({"record": {"dynamodb": {}}, "audience": {"user-001": ["conn-001"]}})
    response = functions["fanout_worker"].handler(sqs_event([body]), context)
    assert len(response["batchItemFailures"]) == 1
    assert connections.sent == {}


def test_a_chat_at_the_threshold_is_posted_by_the_consumer_itself(functions, context, connections):
    _big_chat("big-but-not-too-big", SHARD_ABOVE)
    message_service().send("user-000", SendMessage(request_id="r1", chat_id="big-but-not-too-big", content="hi"))

    functions["delivery"].handler({"Records": stream_records(MessageModel.Meta.table_name)}, context)

    assert _receive_all("FANOUT_SHARDS_QUEUE_URL") == []
    assert sum("message.new" in _types(frames) for frames in connections.sent.values()) == SHARD_ABOVE
