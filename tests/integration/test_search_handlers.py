"""Search handlers as Lambda calls them: the indexer fed real stream records (moto), the
search route fed API Gateway events, the embedded engine in a temporary file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from tests.support.aws import stream_records
from tests.support.events import client_frame, message_event
from tests.support.lambdas import LambdaContext, load_function
from tests.support.seed import make_chat
from tests.support.services import GivenAttachments, chat_event_service, message_service
from tidings.kernel import ratelimits
from tidings.kernel.environment import ColdStart
from tidings.kernel.ratelimits import DynamoBucketStore, RateLimiter
from tidings.messaging.models import MessageModel
from tidings.messaging.sending import SendMessage


@pytest.fixture(scope="module")
def search_functions():
    return {
        "query": load_function("search/search_frames.py"),
        "indexer": load_function("search/index_consumer.py"),
        "reindex": load_function("search/reindex.py"),
    }


@pytest.fixture
def search_db(connections, tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "search.db"
    monkeypatch.setenv("SEARCH_DB_PATH", str(path))
    ColdStart.forget_all()
    make_chat("project-x", ["alice", "bob", "carol"])
    make_chat("general", ["alice", "bob", "carol", "dave"], chat_type="channel")
    make_chat("secret", ["erin", "alice"])
    return path


ATTACHMENT = {
    "attachmentId": "a-1",
    "name": "pro-pricing.pdf",
    "size": 1200,
    "contentType": "application/pdf",
    "status": "clean",
}


def send(sender: str, chat_id: str, content: str, attachments: list | None = None):
    """`attachments`: stored as given (the attachments feature's checks are its own tests')."""
    ids = [attachment["attachmentId"] for attachment in attachments or []]
    return message_service(GivenAttachments(attachments or [])).send(
        sender, SendMessage(request_id=content[:40] + chat_id, chat_id=chat_id, content=content, attachment_ids=ids)
    )


def index_stream(functions, context) -> dict:
    return functions["indexer"].handler({"Records": stream_records(MessageModel.Meta.table_name)}, context)


def search(functions, context, user: str, payload: dict, route: str = "search.query") -> dict:
    frame = client_frame(route, payload)
    response = functions["query"].handler(message_event("conn-1", user, frame, route), context)
    reply = json.loads(response["body"])
    assert reply["payload"]["refId"] == frame["id"]
    return reply


def message_ids(reply: dict) -> list[str]:
    return [r["message"]["messageId"] for r in reply["payload"]["results"] if r["type"] == "message"]


def test_a_new_message_is_indexed_and_found_with_marks(search_functions, search_db, context: LambdaContext):
    message = send("alice", "project-x", "the <quarterly> budget review")
    assert index_stream(search_functions, context) == {"batchItemFailures": []}

    reply = search(search_functions, context, "bob", {"query": "budget", "scope": "messages"})

    assert reply["type"] == "search.results"
    assert reply["payload"]["total"] == 1 and reply["payload"]["cursor"] is None
    result = reply["payload"]["results"][0]
    assert result["message"]["messageId"] == message.message_id
    assert result["message"]["content"] == "the <quarterly> budget review"
    assert result["highlight"]["content"] == ["the &lt;quarterly&gt; <mark>budget</mark> review"]


def test_an_edit_replaces_and_a_delete_removes(search_functions, search_db, context):
    message = send("alice", "project-x", "draft wording")
    chat_event_service().edit("alice", "e1", message.message_id, "final wording")
    assert index_stream(search_functions, context) == {"batchItemFailures": []}
    assert message_ids(search(search_functions, context, "bob", {"query": "draft"})) == []
    assert message_ids(search(search_functions, context, "bob", {"query": "final"})) == [message.message_id]

    chat_event_service().delete("alice", "d1", message.message_id)
    index_stream(search_functions, context)
    assert search(search_functions, context, "bob", {"query": "wording"})["payload"]["total"] == 0


def test_the_searcher_never_sees_chats_they_are_not_in(search_functions, search_db, context):
    send("erin", "secret", "classified launch plan")
    send("alice", "general", "public launch party")
    index_stream(search_functions, context)

    reply = search(search_functions, context, "bob", {"query": "launch", "scope": "messages"})
    assert reply["payload"]["total"] == 1
    assert [r["message"]["chatId"] for r in reply["payload"]["results"]] == ["general"]
    denied = search(search_functions, context, "bob", {"query": "launch", "chatId": "secret"})
    assert denied["payload"]["error"]["code"] == "FORBIDDEN"
    assert search(search_functions, context, "bob", {"query": "launch in:secret"})["payload"]["total"] == 0


def test_people_channels_files_and_messages_page_as_one_list(search_functions, search_db, context):
    send("alice", "general", "the pro plan", attachments=[ATTACHMENT])
    send("bob", "general", "pro tips")
    index_stream(search_functions, context)

    people = search(search_functions, context, "carol", {"query": "car", "scope": "people"})["payload"]
    assert [r["person"]["userId"] for r in people["results"]] == ["carol"]
    assert people["results"][0]["highlight"]["displayName"] == ["<mark>Car</mark>ol"]

    channels = search(search_functions, context, "carol", {"query": "proj", "scope": "channels"})["payload"]
    assert [r["channel"]["channelId"] for r in channels["results"]] == ["project-x"]

    files = search(search_functions, context, "carol", {"query": "pricing", "scope": "files"})["payload"]
    assert files["total"] == 1 and files["results"][0]["file"]["name"] == "pro-pricing.pdf"
    assert files["results"][0]["highlight"]["name"] == ["pro-<mark>pricing</mark>.pdf"]

    # "pro": the channel "project-x" (prefix), the file, two messages: 4 in all, paged by 3.
    first = search(search_functions, context, "carol", {"query": "pro", "limit": 3})["payload"]
    assert first["total"] == 4 and first["cursor"]
    assert [r["type"] for r in first["results"]] == ["channel", "file", "message"]
    second = search(search_functions, context, "carol", {"query": "pro", "limit": 3, "cursor": first["cursor"]})
    assert [r["type"] for r in second["payload"]["results"]] == ["message"]
    assert second["payload"]["cursor"] is None


def test_suggest_returns_at_most_five_and_nothing_under_two_characters(search_functions, search_db, context):
    make_chat("al-club", ["alice", "alan", "albert", "alfred", "alma"])
    for n in range(6):
        send("alice", "general", f"alpha release note {n}")
    index_stream(search_functions, context)

    short = search(search_functions, context, "alice", {"query": "a"}, route="search.suggest")
    assert short["type"] == "search.suggestions" and short["payload"]["suggestions"] == []
    suggestions = search(search_functions, context, "alice", {"query": "al"}, route="search.suggest")["payload"][
        "suggestions"
    ]
    # Five people and a chat match "al", and six messages: people first, the top 3 messages kept.
    assert [s["type"] for s in suggestions] == ["person", "person", "message", "message", "message"]
    assert suggestions[0] == {"type": "person", "text": "Alan", "highlight": "<mark>Al</mark>an", "userId": "alan"}
    assert all("<mark>alpha</mark>" in s["highlight"] for s in suggestions if s["type"] == "message")


def test_bad_input_gets_a_bad_frame_ack(search_functions, search_db, context):
    bad_date = search(search_functions, context, "alice", {"query": "budget before:2026-02-30"})
    assert bad_date["payload"]["error"]["code"] == "BAD_FRAME"
    assert "before:2026-02-30 is not a date" in bad_date["payload"]["error"]["message"]
    bad_cursor = search(search_functions, context, "alice", {"query": "budget", "cursor": "not-ours"})
    assert bad_cursor["payload"]["error"]["code"] == "BAD_FRAME"
    bad_scope = search(search_functions, context, "alice", {"query": "budget", "scope": "everything"})
    assert bad_scope["payload"]["error"]["code"] == "BAD_FRAME"
    hostile = search(search_functions, context, "alice", {"query": '"unbalanced NEAR( OR * ' + "x" * 3000})
    assert hostile["type"] == "search.results"


def test_searches_are_limited_to_five_a_second(search_functions, search_db, context, monkeypatch):
    # A frozen clock: the bucket never refills, however slowly moto answers.
    frozen = RateLimiter(DynamoBucketStore(), now=lambda: 1_000_000.0)
    monkeypatch.setattr(ratelimits, "rate_limiter", lambda environment: frozen)
    ColdStart.forget_all()
    replies = [search(search_functions, context, "dave", {"query": "anything"}) for _ in range(6)]
    assert [r["type"] for r in replies[:5]] == ["search.results"] * 5
    assert replies[5]["payload"]["error"]["code"] == "RATE_LIMITED"
    assert replies[5]["payload"]["error"]["retryAfterMs"] > 0


def test_search_down_is_unavailable_and_the_indexer_reports_the_failure(
    search_functions, search_db, context, monkeypatch, tmp_path
):
    monkeypatch.setenv("SEARCH_DB_PATH", str(tmp_path / "missing-dir" / "search.db"))
    ColdStart.forget_all()
    send("alice", "general", "this still gets stored")

    reply = search(search_functions, context, "alice", {"query": "stored"})
    assert reply["payload"]["error"] == {"code": "UNAVAILABLE", "message": "Search temporarily unavailable"}
    # Every record failed: Powertools fails the whole batch, so the mapping retries it and then
    # sends it to the on-failure queue.
    with pytest.raises(BatchProcessingError):
        index_stream(search_functions, context)


def test_reindex_rebuilds_the_index_from_the_message_store(search_functions, search_db, context):
    kept = send("alice", "general", "rebuild me please")
    gone = send("alice", "general", "rebuild without me")
    chat_event_service().delete("alice", "d1", gone.message_id)
    # Nothing was indexed from the stream: the index starts empty, as after losing it.
    assert search(search_functions, context, "bob", {"query": "rebuild"})["payload"]["total"] == 0

    result = search_functions["reindex"].handler({}, context)

    assert result == {"chats": 3, "messages": 1}
    assert message_ids(search(search_functions, context, "bob", {"query": "rebuild"})) == [kept.message_id]


def test_the_page_size_is_the_documented_1_to_50(search_functions, search_db, context):
    """docs/protocol.md: `limit` 1..50, default 20; outside that a BAD_FRAME naming the field."""
    for n in range(24):  # from four members: each stays under the 10 sends a second limit
        send(("alice", "bob", "carol", "dave")[n % 4], "general", f"note number {n} about limits")
    index_stream(search_functions, context)

    default = search(search_functions, context, "bob", {"query": "limits", "scope": "messages"})["payload"]
    assert len(default["results"]) == 20 and default["total"] == 24
    widest = search(search_functions, context, "bob", {"query": "limits", "scope": "messages", "limit": 50})
    assert len(widest["payload"]["results"]) == 24
    for bad in (0, 51):
        reply = search(search_functions, context, "bob", {"query": "limits", "limit": bad})["payload"]
        assert reply["error"]["code"] == "BAD_FRAME" and "payload.limit" in reply["error"]["message"]
