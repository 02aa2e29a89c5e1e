"""A big chat's fan-out in shards: the Delivery consumer hands an audience of more than
SHARD_ABOVE_CONNECTIONS connections to the FanoutShards queue, and the fan-out workers post each
shard through the one delivery loop (moto, real stream records and SQS events)."""

import json
import os
from collections import Counter

import boto3
import pytest

from tests.support.aws import stream_records
from tests.support.events import sqs_event
from tests.support.seed import make_chat
from tests.support.services import message_service
from tidings.messaging import fanout, fanout_shards
from tidings.messaging.models import MessageModel
from tidings.messaging.sending import SendMessage
from tidings.sessions.connection_store import DynamoConnectionStore

# Small stand-ins for the real sizes (500 and 250, whose cut tests/unit/test_fanout.py checks):
# the path is the same, and 500 members through moto cost the suite a minute a test.
SHARD_ABOVE_CONNECTIONS = 12
SHARD_CONNECTIONS = 5
MEMBERS = SHARD_ABOVE_CONNECTIONS + 1  # one connection each: two full shards and one of 3


@pytest.fixture(autouse=True)
def small_shards(monkeypatch):
    monkeypatch.setattr(fanout, "SHARD_ABOVE_CONNECTIONS", SHARD_ABOVE_CONNECTIONS)
    monkeypatch.setattr(fanout_shards, "SHARD_CONNECTIONS", SHARD_CONNECTIONS)


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


def _big_chat(chat_id: str, members: int) -> None:
    """A channel of `members` members, `user-000` …, each with one connection, `conn-000` …"""
    user_ids = [f"user-{n:03d}" for n in range(members)]
    make_chat(chat_id, user_ids, chat_type="channel")
    store = DynamoConnectionStore()
    for n, user_id in enumerate(user_ids):
        store.add(f"conn-{n:03d}", user_id, connected_at_ms=n, token_expires_at=2_000_000_000)


def _types(frames: list[str]) -> list[str]:
    return [json.loads(frame)["type"] for frame in frames]


def test_a_big_chat_is_posted_in_shards_and_every_connection_gets_the_message_once(functions, context, connections):
    _big_chat("town-hall", MEMBERS)
    connections.broken.add("conn-007")  # fails every post until it recovers
    message = message_service().send("user-000", SendMessage(request_id="r1", chat_id="town-hall", content="hi all"))

    assert functions["delivery"].handler({"Records": stream_records(MessageModel.Meta.table_name)}, context) == {
        "batchItemFailures": []
    }
    # The consumer posted no message.new itself (its notification step posted the badges).
    assert not any("message.new" in _types(frames) for frames in connections.sent.values())
    shards = _receive_all("FANOUT_SHARDS_QUEUE_URL")
    bodies = [json.loads(shard["Body"]) for shard in shards]
    assert sorted(len(body["connectionIds"]) for body in bodies) == [
        MEMBERS - 2 * SHARD_CONNECTIONS,
        SHARD_CONNECTIONS,
        SHARD_CONNECTIONS,
    ]
    assert {body["attempt"] for body in bodies} == {1}
    assert sorted(c for body in bodies for c in body["connectionIds"]) == [f"conn-{n:03d}" for n in range(MEMBERS)]
    badge_retries = _receive_all("DELIVERY_RETRIES_QUEUE_URL")  # conn-007's badge, from the consumer
    assert [json.loads(job["Body"])["connectionIds"] for job in badge_retries] == [["conn-007"]]

    # Each shard is one worker invocation (batch size 1), as the event source mapping sends them.
    for shard in shards:
        assert functions["fanout_worker"].handler(sqs_event([shard["Body"]]), context) == {"batchItemFailures": []}

    received = Counter(
        connection_id
        for connection_id, frames in connections.sent.items()
        for frame in frames
        if json.loads(frame)["type"] == "message.new"
    )
    assert set(received.values()) == {1} and len(received) == MEMBERS - 1
    assert "conn-007" not in received
    # The failing connection alone is owed the frame, on the delivery retry queue.
    [retry] = _receive_all("DELIVERY_RETRIES_QUEUE_URL")
    job = json.loads(retry["Body"])
    assert (job["connectionIds"], job["attempt"], _types(job["frames"])) == (["conn-007"], 2, ["message.new"])
    assert json.loads(job["frames"][0])["payload"]["message"]["messageId"] == message.message_id

    connections.broken.clear()
    assert functions["delivery_retry"].handler(sqs_event([retry["Body"]]), context) == {"batchItemFailures": []}
    assert _types(connections.sent["conn-007"]) == ["message.new"]
    everyone = Counter(c for c, frames in connections.sent.items() for t in _types(frames) if t == "message.new")
    assert len(everyone) == MEMBERS and set(everyone.values()) == {1}, "exactly one message.new each"


def test_a_chat_at_the_threshold_is_posted_by_the_consumer_itself(functions, context, connections):
    _big_chat("big-but-not-too-big", SHARD_ABOVE_CONNECTIONS)
    message_service().send("user-000", SendMessage(request_id="r1", chat_id="big-but-not-too-big", content="hi"))

    functions["delivery"].handler({"Records": stream_records(MessageModel.Meta.table_name)}, context)

    assert _receive_all("FANOUT_SHARDS_QUEUE_URL") == []
    assert sum("message.new" in _types(frames) for frames in connections.sent.values()) == SHARD_ABOVE_CONNECTIONS
