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
    ApiGatewayPoster,
    Deliveries,
    PostFailed,
    Redelivery,
    post_to_user,
    split_to_fit,
)
from tidings.kernel.delay_queue import SQS_MAX_BODY_BYTES, DelayQueue
from tidings.messaging.fanout import Fanout


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
