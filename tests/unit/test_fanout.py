"""Fan-out's delivery rule: each connection on its own, failures retried alone, nobody twice."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from tidings.kernel.connections_api import (
    MAX_ATTEMPTS,
    REDELIVERIES,
    RETRY_DELAYS_SECONDS,
    THROTTLED_PER_JOB,
    ApiGatewayPoster,
    Deliveries,
    PostFailed,
    Redelivery,
    post_to_user,
    split_to_fit,
)
from tidings.kernel.delay_queue import SQS_MAX_BODY_BYTES, DelayQueue
from tidings.messaging.fanout import Fanout
from tidings.messaging.fanout_shards import (
    FANOUT_JOBS,
    MESSAGE_SHARDS,
    SHARD_ABOVE_CONNECTIONS,
    SHARD_ABOVE_MEMBERS,
    SHARD_CONNECTIONS,
    SHARD_JOBS,
    SHARD_MEMBERS,
    MessageShard,
    halved_to_fit,
    message_is_sharded,
    message_shards,
)


class Poster:
    """Records posts; `failing[connection] = (after, error)` fails that connection's posts once
    it has taken `after` frames."""

    def __init__(self) -> None:
        self.sent: dict[str, list[str]] = {}
        self.gone: set[str] = set()
        self.failing: dict[str, tuple[int, Exception]] = {}

    def post(self, connection_id: str, data: str) -> bool:
        if connection_id in self.gone:
            return False
        after, error = self.failing.get(connection_id, (None, None))
        if error is not None and len(self.sent.get(connection_id, [])) >= (after or 0):
            raise error
        self.sent.setdefault(connection_id, []).append(data)
        return True


class Directory:
    def __init__(self, members: dict[str, list[str]], connections: dict[str, list[str]]) -> None:
        self.members = members
        self.connections = connections
        self.forgotten: list[str] = []
        self.broken_forget = False

    def member_ids(self, chat_id: str) -> list[str]:
        return self.members[chat_id]

    def for_user(self, user_id: str) -> list[str]:
        if user_id == "unreadable":
            raise RuntimeError("throttled")
        return self.connections.get(user_id, [])

    def for_users(self, user_ids) -> dict[str, list[str]]:
        return {user_id: self.for_user(user_id) for user_id in user_ids}

    def forget_gone(self, connection_id: str) -> None:
        if self.broken_forget:
            raise RuntimeError("throttled")
        self.forgotten.append(connection_id)


class Retries:
    def __init__(self) -> None:
        self.scheduled: list[tuple[Redelivery, int]] = []

    def schedule(self, job: Redelivery, delay_seconds: int) -> None:
        self.scheduled.append((job, delay_seconds))


def test_a_connection_that_fails_midway_is_owed_just_its_remaining_frames() -> None:
    poster, directory, retries = Poster(), Directory({}, {}), Retries()
    poster.failing["b1"] = (1, PostFailed("500", retryable=True))  # takes the first frame, then fails
    poster.failing["c1"] = (0, ConnectionError("timed out"))  # any other exception counts as transient

    report = Deliveries(poster, directory, retries).deliver(
        [("a1", ["f1", "f2"]), ("b1", ["f1", "f2"]), ("c1", ["f2"])]
    )

    assert poster.sent == {"a1": ["f1", "f2"], "b1": ["f1"]}
    assert retries.scheduled == [(Redelivery(("b1", "c1"), ("f2",), 2), RETRY_DELAYS_SECONDS[0])]
    assert (report.delivered, report.retrying, report.given_up, report.gone) == (3, 2, 0, 0)


def test_a_refusal_that_would_repeat_is_given_up_at_once_and_a_gone_connection_forgotten() -> None:
    poster, directory, retries = Poster(), Directory({}, {}), Retries()
    poster.failing["big"] = (0, PostFailed("413", retryable=False))
    poster.gone.add("old")
    directory.broken_forget = True  # cleanup failing must not fail the delivery

    report = Deliveries(poster, directory, retries).deliver([("big", ["f"]), ("old", ["f"]), ("ok", ["f"])])

    assert retries.scheduled == []
    assert poster.sent == {"ok": ["f"]}
    assert (report.delivered, report.gone, report.given_up) == (1, 1, 1)


def test_each_retry_waits_longer_and_the_last_gives_up() -> None:
    poster, directory, retries = Poster(), Directory({}, {}), Retries()
    poster.failing["b1"] = (0, PostFailed("429", retryable=True))
    deliveries = Deliveries(poster, directory, retries)

    for attempt in range(2, MAX_ATTEMPTS):
        deliveries.redeliver(Redelivery(("b1",), ("f",), attempt))
    report = deliveries.redeliver(Redelivery(("b1",), ("f",), MAX_ATTEMPTS))

    assert [(job.attempt, delay) for job, delay in retries.scheduled] == [(3, 5), (4, 25)]
    assert report.given_up == 1


def test_without_a_retry_queue_a_failed_connection_misses_the_frame_and_nothing_raises() -> None:
    poster = Poster()
    poster.failing["b1"] = (0, PostFailed("500", retryable=True))
    directory = Directory({"c": ["alice", "bob"]}, {"alice": ["a1"], "bob": ["b1"]})

    report = Fanout(directory, directory, poster).to_chat("c", "typing")

    assert poster.sent == {"a1": ["typing"]}
    assert (report.delivered, report.given_up) == (1, 1)


def test_fan_out_reads_every_member_s_connections_before_the_first_post() -> None:
    poster = Poster()
    directory = Directory({"c": ["alice", "unreadable"]}, {"alice": ["a1"]})

    with pytest.raises(RuntimeError):
        Fanout(directory, directory, poster, Retries()).to_chat("c", "f")
    assert poster.sent == {}  # the record's retry repeats nothing


def test_fan_out_skips_the_excepted_user_without_reading_their_connections() -> None:
    poster, retries = Poster(), Retries()
    directory = Directory({"c": ["unreadable", "bob"]}, {"bob": ["b1"]})

    Fanout(directory, directory, poster, retries).frames_to_chat("c", [("typing-off", "unreadable")])

    assert poster.sent == {"b1": ["typing-off"]}


def test_post_to_user_retries_through_the_queue_it_is_given() -> None:
    poster, retries = Poster(), Retries()
    poster.failing["a2"] = (0, PostFailed("500", retryable=True))

    post_to_user(poster, Directory({}, {}), ["a1", "a2"], ["badge", "toast"], retries)

    assert poster.sent == {"a1": ["badge", "toast"]}
    assert retries.scheduled == [(Redelivery(("a2",), ("badge", "toast"), 2), 1)]


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"connectionIds": [], "frames": ["f"], "attempt": 2},
        {"connectionIds": ["a"], "frames": [], "attempt": 2},
        {"connectionIds": ["a"], "frames": [1], "attempt": 2},
        {"connectionIds": ["a"], "frames": ["f"], "attempt": 1},
        {"connectionIds": ["a"], "frames": ["f"], "attempt": MAX_ATTEMPTS + 1},
        {"connectionIds": ["a"], "frames": ["f"], "attempt": True},
    ],
)
def test_a_body_that_is_not_a_redelivery_is_refused(body) -> None:
    with pytest.raises(ValueError):
        Redelivery.from_body(body)


class Sqs:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    def send_message(self, **request) -> None:
        self.sent.append(request)


def test_a_big_job_is_split_into_messages_that_fit_sqs() -> None:
    sqs = Sqs()
    frame = json.dumps({"type": "message.new", "payload": {"content": '"quoted" \uffff ' * 4000}}, ensure_ascii=False)
    ids = tuple(f"connection-{n:05d}=" for n in range(20000))

    DelayQueue("url", REDELIVERIES, client=sqs, split=split_to_fit).schedule(
        Redelivery(ids, (frame,), 3), delay_seconds=5
    )

    assert len(sqs.sent) > 1
    assert all(len(m["MessageBody"].encode()) <= SQS_MAX_BODY_BYTES for m in sqs.sent)
    assert all(m["MessageBody"].isascii() and m["DelaySeconds"] == 5 for m in sqs.sent)
    jobs = [REDELIVERIES.decode(m["MessageBody"]) for m in sqs.sent]
    assert [i for job in jobs for i in job.connection_ids] == list(ids)
    assert {(job.frames, job.attempt) for job in jobs} == {((frame,), 3)}


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("InternalServerErrorException", 500, True),
        ("LimitExceededException", 429, True),
        ("ForbiddenException", 403, False),
        ("PayloadTooLargeException", 413, False),
    ],
)
def test_the_poster_tells_a_failure_worth_retrying_from_a_refusal(code: str, status: int, retryable: bool) -> None:
    client = boto3.client("apigatewaymanagementapi", endpoint_url="https://example.test", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("post_to_connection", service_error_code=code, http_status_code=status)
        stub.add_client_error("post_to_connection", service_error_code="GoneException", http_status_code=410)
        poster = ApiGatewayPoster("https://example.test", client=client)
        with pytest.raises(PostFailed) as failed:
            poster.post("c1", "frame")
        assert failed.value.retryable is retryable
        assert poster.post("c1", "frame") is False


def test_throttled_connections_are_retried_alone_in_small_jobs_with_spread_out_delays() -> None:
    """429 (LimitExceededException) from @connections: each throttled connection is owed its own
    remaining frames, in jobs of at most THROTTLED_PER_JOB, each delayed by the attempt's backoff
    plus a random part of as much again; the connections that went through get nothing twice."""
    poster, directory, retries = Poster(), Directory({}, {}), Retries()
    throttled = [f"t{n:02d}" for n in range(THROTTLED_PER_JOB * 2 + 5)]
    for connection_id in throttled:
        poster.failing[connection_id] = (0, PostFailed("429 LimitExceededException", retryable=True, throttled=True))
    poster.failing["broken"] = (0, PostFailed("500", retryable=True))

    report = Deliveries(poster, directory, retries).deliver(
        [(c, ["f"]) for c in ["ok-1", *throttled, "broken", "ok-2"]], attempt=2
    )

    assert poster.sent == {"ok-1": ["f"], "ok-2": ["f"]}
    assert (report.retrying, report.throttled, report.given_up) == (len(throttled) + 1, len(throttled), 0)
    plain = [(job, delay) for job, delay in retries.scheduled if job.connection_ids == ("broken",)]
    assert plain == [(Redelivery(("broken",), ("f",), 3), RETRY_DELAYS_SECONDS[1])]  # a 5xx: no jitter
    spread = [(job, delay) for job, delay in retries.scheduled if job.connection_ids != ("broken",)]
    assert [len(job.connection_ids) for job, _ in spread] == [THROTTLED_PER_JOB, THROTTLED_PER_JOB, 5]
    assert [c for job, _ in spread for c in job.connection_ids] == throttled
    backoff = RETRY_DELAYS_SECONDS[1]
    assert all(job.attempt == 3 and backoff <= delay <= 2 * backoff for job, delay in spread)


def test_the_poster_marks_a_429_as_throttled() -> None:
    client = boto3.client("apigatewaymanagementapi", endpoint_url="https://example.test", region_name="us-east-1")
    with Stubber(client) as stub:
        for code, status in (("LimitExceededException", 429), ("InternalServerErrorException", 500)):
            stub.add_client_error("post_to_connection", service_error_code=code, http_status_code=status)
        poster = ApiGatewayPoster("https://example.test", client=client)
        with pytest.raises(PostFailed) as throttled:
            poster.post("c1", "frame")
        with pytest.raises(PostFailed) as failed:
            poster.post("c1", "frame")
    assert (throttled.value.retryable, throttled.value.throttled) == (True, True)
    assert (failed.value.retryable, failed.value.throttled) == (True, False)


class Shards:
    def __init__(self) -> None:
        self.jobs: list[Redelivery] = []

    def schedule_all(self, jobs, delay_seconds: int = 0) -> None:
        self.jobs += list(jobs)


def test_an_audience_above_the_threshold_goes_to_the_shard_queue_and_nothing_is_posted_here() -> None:
    members = [f"u{n:03d}" for n in range(SHARD_ABOVE_CONNECTIONS + 1)]
    directory = Directory({"big": members}, {u: [f"{u}-a"] for u in members})
    directory.connections["u000"].append("u000-b")  # the sender's second connection
    poster, shards = Poster(), Shards()
    fanout = Fanout(directory, directory, poster, Retries(), shards)

    report = fanout.frames_to_audience(fanout.audience("big"), [("typing-off", "u000"), ("msg", None)], "trace-1")

    assert poster.sent == {} and report.sharded == len(shards.jobs) == 3
    # The sender's connections are owed the message alone, the others the typing frame first.
    assert [(len(job.connection_ids), job.frames) for job in shards.jobs] == [
        (2, ("msg",)),
        (SHARD_CONNECTIONS, ("typing-off", "msg")),
        (SHARD_ABOVE_CONNECTIONS - SHARD_CONNECTIONS, ("typing-off", "msg")),
    ]
    assert {(job.attempt, job.trace_id) for job in shards.jobs} == {(1, "trace-1")}
    assert SHARD_JOBS.decode(SHARD_JOBS.encode(shards.jobs[0])) == shards.jobs[0]


def test_an_audience_at_the_threshold_is_posted_in_the_consumer() -> None:
    members = [f"u{n:03d}" for n in range(SHARD_ABOVE_CONNECTIONS)]
    directory = Directory({"c": members}, {u: [f"{u}-a"] for u in members})
    poster, shards = Poster(), Shards()
    report = Fanout(directory, directory, poster, Retries(), shards).to_chat("c", "msg")
    assert shards.jobs == [] and report.delivered == len(poster.sent) == SHARD_ABOVE_CONNECTIONS


class BatchSqs:
    def __init__(self, refuse: int = 0) -> None:
        self.batches: list[list[dict]] = []
        self.refuse = refuse

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:
        self.batches.append(Entries)
        return {"Failed": [{"Id": e["Id"], "Code": "InternalError"} for e in Entries[: self.refuse]]}


def test_shards_go_to_sqs_ten_to_a_call_within_its_size_and_a_refused_one_raises() -> None:
    sqs = BatchSqs()
    queue = DelayQueue("https://sqs.test/shards", SHARD_JOBS, client=sqs, split=split_to_fit)
    small = [Redelivery((f"c{n}",), ("f",), attempt=1) for n in range(23)]
    queue.schedule_all(small)
    assert [len(batch) for batch in sqs.batches] == [10, 10, 3]
    assert [SHARD_JOBS.decode(e["MessageBody"]) for batch in sqs.batches for e in batch] == small
    assert {e["DelaySeconds"] for batch in sqs.batches for e in batch} == {0}

    sqs.batches.clear()
    frame = "x" * (100 * 1024)  # three such jobs are over one call's 256 KiB
    queue.schedule_all([Redelivery((f"c{n}",), (frame,), attempt=1) for n in range(3)])
    assert [len(batch) for batch in sqs.batches] == [2, 1]
    assert all(sum(len(e["MessageBody"]) for e in batch) <= SQS_MAX_BODY_BYTES for batch in sqs.batches)

    with pytest.raises(RuntimeError, match="refused 1 of 1"):
        DelayQueue("https://sqs.test/shards", SHARD_JOBS, client=BatchSqs(refuse=1)).schedule_all(small[:1])


def _audience(members: int, connections_each: int = 1) -> dict[str, list[str]]:
    return {f"u{n}": [f"c{n}-{k}" for k in range(connections_each)] for n in range(members)}


def test_a_new_message_is_sharded_above_either_threshold() -> None:
    assert not message_is_sharded(_audience(SHARD_ABOVE_MEMBERS))
    assert message_is_sharded(_audience(SHARD_ABOVE_MEMBERS + 1, connections_each=0)), "offline members count"
    assert message_is_sharded(_audience(SHARD_ABOVE_CONNECTIONS // 2, connections_each=3)), "so do connections"


def test_message_shards_cut_by_members_and_connections_never_splitting_a_member() -> None:
    audience = {**_audience(SHARD_MEMBERS + 10, connections_each=0), "busy": [f"tab{k}" for k in range(5)]}
    shards = message_shards({"dynamodb": {"NewImage": {}}}, audience, [("typing", "u0")], "trace-1")
    assert [len(shard.audience) for shard in shards] == [SHARD_MEMBERS, 11]
    assert shards[1].audience["busy"] == [f"tab{k}" for k in range(5)]
    assert all(shard.before == (("typing", "u0"),) and shard.trace_id == "trace-1" for shard in shards)

    crowded = _audience(SHARD_MEMBERS, connections_each=3)
    shards = message_shards({}, crowded, [], None)
    assert all(sum(map(len, shard.audience.values())) <= SHARD_CONNECTIONS for shard in shards)
    assert [user for shard in shards for user in shard.audience] == list(crowded), "every member once, in order"


def test_a_message_shard_survives_its_queue_and_a_redelivery_is_still_one() -> None:
    shard = MessageShard({"dynamodb": {"NewImage": {"chatId": {"S": "c"}}}}, {"u1": ["c1"], "u2": []}, (("t", None),))
    assert FANOUT_JOBS.decode(MESSAGE_SHARDS.encode(shard)) == shard
    quiet = MessageShard(shard.record, shard.audience, quiet=True)
    assert FANOUT_JOBS.decode(MESSAGE_SHARDS.encode(quiet)) == quiet
    redelivery = Redelivery(("c1",), ("frame",), attempt=1)
    assert FANOUT_JOBS.decode(SHARD_JOBS.encode(redelivery)) == redelivery


@pytest.mark.parametrize(
    "body",
    [
        {"record": {}, "audience": {"u1": ["c1"]}},
        {"record": {"dynamodb": {"NewImage": {}}}, "audience": {}},
        {"record": {"dynamodb": {"NewImage": {}}}, "audience": {"u1": "c1"}},
        {"record": {"dynamodb": {"NewImage": {}}}, "audience": {"u1": []}, "before": [["frame"]]},
        {"record": {"dynamodb": {"NewImage": {}}}, "audience": {"u1": []}, "quiet": "yes"},
    ],
)
def test_a_body_that_is_not_a_message_shard_is_refused(body) -> None:
    with pytest.raises(ValueError):
        FANOUT_JOBS.decode(json.dumps(body))


def test_a_message_shard_too_big_for_sqs_is_halved_until_each_part_fits() -> None:
    record = {"dynamodb": {"NewImage": {"content": {"S": "x" * 255_000}}}}
    audience = {f"user-{n:04d}": [f"connection-{n:04d}-{k}" for k in range(8)] for n in range(SHARD_MEMBERS)}
    parts = halved_to_fit(MessageShard(record, audience))
    assert len(parts) > 1
    assert all(len(MESSAGE_SHARDS.encode(part)) <= SQS_MAX_BODY_BYTES for part in parts)
    assert [user for part in parts for user in part.audience] == list(audience)
