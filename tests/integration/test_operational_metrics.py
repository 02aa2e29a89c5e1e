"""The metrics the operations dashboard plots that the handlers emit themselves: delivery latency
(one per chat event the delivery consumer fans out) and search latency (one per search.query)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.aws import stream_records
from tests.support.events import client_frame, message_event
from tests.support.lambdas import load_function
from tests.support.seed import make_chat
from tests.support.services import chat_event_service, message_service
from tidings.kernel.environment import ColdStart
from tidings.messaging.models import MessageModel
from tidings.messaging.sending import SendMessage


@pytest.fixture
def recorded(monkeypatch) -> list[tuple[str, str, float]]:
    """(name, unit, value) of every metric added (Powertools flushes them as EMF on AWS)."""
    from tidings.kernel.observability import metrics

    added: list[tuple[str, str, float]] = []
    monkeypatch.setattr(metrics, "add_metric", lambda name, unit, value, **_: added.append((name, unit, value)))
    return added


def _latencies(recorded, name: str) -> list[float]:
    assert all(unit == "Milliseconds" for n, unit, _ in recorded if n == name)
    return [value for n, _, value in recorded if n == name]


def test_the_delivery_consumer_reports_each_chat_events_latency_since_it_was_accepted(
    functions, context, connections, recorded, monkeypatch
):
    make_chat("project-x", ["alice", "bob"])
    message = message_service().send("alice", SendMessage(request_id="r1", chat_id="project-x", content="hello"))
    chat_event_service().edit("alice", "r2", message.message_id, "hello, edited")
    batch = {"Records": stream_records(MessageModel.Meta.table_name)}
    # The consumer runs 1.5 s after both events were written.
    later = datetime.now(UTC) + timedelta(milliseconds=1500)
    monkeypatch.setattr(
        functions["delivery"], "datetime", type("Later", (datetime,), {"now": staticmethod(lambda tz: later)})
    )

    assert functions["delivery"].handler(batch, context) == {"batchItemFailures": []}

    latencies = _latencies(recorded, "DeliveryLatency")
    assert len(latencies) == 2  # the message.new and the message.updated
    assert all(1500 <= value < 1500 + 60_000 for value in latencies), latencies


def test_search_query_reports_its_latency(connections, recorded, context, tmp_path, monkeypatch):
    monkeypatch.setenv("SEARCH_DB_PATH", str(tmp_path / "search.db"))
    ColdStart.forget_all()
    make_chat("project-x", ["alice", "bob"])
    frame = client_frame("search.query", {"query": "budget"})

    response = load_function("search/search_frames.py").handler(
        message_event("conn-1", "alice", frame, "search.query"), context
    )

    assert json.loads(response["body"])["type"] == "search.results"
    latencies = _latencies(recorded, "SearchLatency")
    assert len(latencies) == 1 and latencies[0] >= 0
