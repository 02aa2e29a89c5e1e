"""A trace id follows one message through the functions that handle it: kept from the client's
`message.send` envelope when valid (minted otherwise), stored on the message, on the frames about
it, and on every log line and EMF record of the stream and queue consumers that handle it
(docs/operations.md)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator

import boto3
import pytest

from tests.support.aws import stream_records
from tests.support.events import client_frame, message_event, sqs_event
from tests.support.lambdas import load_function
from tests.support.logs import captured_log
from tests.support.seed import make_chat
from tidings.kernel.observability import logger
from tidings.messaging.models import MessageModel
from tidings.sessions.connection_store import DynamoConnectionStore

MINTED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def emf(monkeypatch, capsys) -> Iterator[list[dict]]:
    """The EMF records the handlers print (Powertools writes them to stdout), metrics enabled."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    records: list[dict] = []
    capsys.readouterr()
    yield records


def _emf_records(capsys) -> list[dict]:
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [record for record in map(json.loads, lines) if "_aws" in record]


def _send(functions, context, user: str, chat_id: str, content: str, trace_id: object = None) -> dict:
    frame = client_frame("message.send", {"chatId": chat_id, "content": content})
    if trace_id is not None:
        frame["traceId"] = trace_id
    reply = functions["send"].handler(message_event(f"conn-{user}=", user, frame, "message.send"), context)
    ack = json.loads(reply["body"])
    assert ack["payload"]["status"] == "ok", ack
    return ack


def _stored_trace_id(ack: dict) -> str | None:
    message = ack["payload"]["message"]
    return MessageModel.get(message["chatId"], message["seq"]).trace_id


def test_a_valid_client_trace_id_is_kept_stored_and_on_the_ack(functions, context, connections):
    make_chat("general", ["alice", "bob"])
    ack = _send(functions, context, "alice", "general", "hi", trace_id="checkout-7f3a_x")
    assert ack["traceId"] == "checkout-7f3a_x"
    assert _stored_trace_id(ack) == "checkout-7f3a_x"


@pytest.mark.parametrize(
    "given",
    ["short", "x" * 65, "has space in it", "dots.are.not.ok", "ünïcödé-chars", 12345678, ["a-list-of-it"], ""],
)
def test_an_invalid_client_trace_id_is_replaced_never_refused(functions, context, connections, given):
    make_chat("general", ["alice", "bob"])
    ack = _send(functions, context, "alice", "general", "hi", trace_id=given)
    assert MINTED.fullmatch(ack["traceId"]), ack["traceId"]
    assert _stored_trace_id(ack) == ack["traceId"]


def test_without_a_client_trace_id_each_message_gets_its_own(functions, context, connections):
    make_chat("general", ["alice", "bob"])
    first = _send(functions, context, "alice", "general", "one")
    second = _send(functions, context, "alice", "general", "two")
    assert MINTED.fullmatch(first["traceId"]) and MINTED.fullmatch(second["traceId"])
    assert first["traceId"] != second["traceId"]


def test_a_retried_send_answers_with_the_first_attempts_trace_id(functions, context, connections):
    make_chat("general", ["alice", "bob"])
    frame = client_frame("message.send", {"chatId": "general", "content": "hi"}, frame_id="retry-me")
    acks = []
    for trace_id in ("first-attempt", "second-attempt"):
        event = message_event("conn-alice=", "alice", {**frame, "traceId": trace_id}, "message.send")
        acks.append(json.loads(functions["send"].handler(event, context)["body"]))
    assert [ack["traceId"] for ack in acks] == ["first-attempt", "first-attempt"]


def test_the_delivery_consumer_traces_each_record_with_its_messages_trace_id(
    functions, context, connections, emf, capsys
):
    make_chat("general", ["alice", "bob"])
    DynamoConnectionStore().add("bob-1", "bob", connected_at_ms=1, token_expires_at=2_000_000_000)
    first = _send(functions, context, "alice", "general", "one", trace_id="trace-one-1")
    _send(functions, context, "alice", "general", "two", trace_id="trace-two-2")
    # An edit of the first message is part of the first message's trace.
    edit = client_frame("message.edit", {"messageId": first["payload"]["message"]["messageId"], "content": "one, edit"})
    edit_event = message_event("conn-alice=", "alice", {**edit, "traceId": "its-own-trace"}, "message.edit")
    edit_ack = json.loads(functions["events"].handler(edit_event, context)["body"])
    assert (edit_ack["payload"]["status"], edit_ack["traceId"]) == ("ok", "trace-one-1")
    capsys.readouterr()

    with captured_log() as lines:
        assert functions["delivery"].handler({"Records": stream_records("tidings-messages")}, context) == {
            "batchItemFailures": []
        }
        logger.info("after the batch")

    delivered = [(line["seq"], line.get("traceId")) for line in lines if line["message"] == "chat event delivered"]
    assert delivered == [(1, "trace-one-1"), (2, "trace-two-2"), (3, "trace-one-1")]
    (after,) = [line for line in lines if line["message"] == "after the batch"]
    assert "traceId" not in after  # cleared with its record
    records = _emf_records(capsys)
    traced = [record.get("traceId") for record in records if "FramesDelivered" in record]
    assert traced == ["trace-one-1", "trace-two-2", "trace-one-1"]  # one EMF record per record
    for record in records:
        dimensions = record["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
        assert all("traceId" not in names for names in dimensions)  # metadata, never a dimension
    frames = [json.loads(data) for data in connections.sent["bob-1"]]
    assert [(f["type"], f.get("traceId")) for f in frames if f["type"].startswith("message.")] == [
        ("message.new", "trace-one-1"),
        ("message.new", "trace-two-2"),
        ("message.updated", "trace-one-1"),
    ]


def test_the_search_indexer_traces_each_record_with_its_messages_trace_id(
    functions, context, connections, emf, capsys, tmp_path, monkeypatch
):
    monkeypatch.setenv("SEARCH_DB_PATH", str(tmp_path / "search.db"))
    indexer = load_function("search/index_consumer.py")
    make_chat("general", ["alice", "bob"])
    _send(functions, context, "alice", "general", "budget one", trace_id="index-one-1")
    _send(functions, context, "alice", "general", "budget two", trace_id="index-two-2")
    capsys.readouterr()

    with captured_log() as lines:
        assert indexer.handler({"Records": stream_records("tidings-messages")}, context) == {"batchItemFailures": []}

    indexed = [line.get("traceId") for line in lines if line["message"] == "search index updated"]
    assert indexed == ["index-one-1", "index-two-2"]
    traced = [record.get("traceId") for record in _emf_records(capsys) if "SearchDocumentsIndexed" in record]
    assert traced == ["index-one-1", "index-two-2"]


def test_a_delivery_retry_and_a_push_job_carry_the_messages_trace_id(functions, context, connections):
    make_chat("project-x", ["alice", "bob", "erin"])
    DynamoConnectionStore().add("erin-1", "erin", connected_at_ms=1, token_expires_at=2_000_000_000)
    connections.broken.add("erin-1")
    _send(functions, context, "alice", "project-x", "hello", trace_id="retried-trace")  # bob is offline: a push
    assert functions["delivery"].handler({"Records": stream_records("tidings-messages")}, context) == {
        "batchItemFailures": []
    }
    sqs = boto3.client("sqs")
    retry_url, push_url = os.environ["DELIVERY_RETRIES_QUEUE_URL"], os.environ["PUSH_JOBS_QUEUE_URL"]
    retries = sqs.receive_message(QueueUrl=retry_url, MaxNumberOfMessages=10, WaitTimeSeconds=5)["Messages"]
    pushes = sqs.receive_message(QueueUrl=push_url, MaxNumberOfMessages=10)["Messages"]
    assert retries and pushes
    assert {json.loads(job["Body"])["traceId"] for job in retries + pushes} == {"retried-trace"}

    # erin's connection still fails: the retry worker schedules the next attempt, under the trace.
    with captured_log() as lines:
        response = functions["delivery_retry"].handler(sqs_event([job["Body"] for job in retries]), context)
        assert response == {"batchItemFailures": []}
    scheduled = [
        (line["attempt"], line.get("traceId")) for line in lines if line["message"] == "delivery retry scheduled"
    ]
    assert scheduled and set(scheduled) == {(3, "retried-trace")}
