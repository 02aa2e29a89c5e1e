"""Input a client can send that the server cannot use gets `BAD_FRAME` naming the field (or is
accepted and handled), never `INTERNAL`, `UNAVAILABLE` or no reply: the
defects third-party clients found, one test each, driven through the real handlers on moto."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest

from tests.support.aws import stream_records
from tests.support.events import client_frame, http_event, message_event
from tests.support.lambdas import LambdaContext, load_function
from tests.support.seed import make_chat
from tests.support.services import search_service
from tidings.kernel.environment import ColdStart
from tidings.messaging.models import MessageModel
from tidings.sessions.connection_store import DynamoConnectionStore
from tidings.sessions.tokens import ALGORITHMS, AUDIENCE, ISSUER, issue_token


@pytest.fixture(scope="module")
def handlers():
    return {
        path: load_function(path)
        for path in (
            "sessions/default_route.py",
            "sessions/session_frames.py",
            "messaging/message_send.py",
            "messaging/sync_request.py",
            "search/search_frames.py",
            "search/index_consumer.py",
            "notifications/prefs_api.py",
        )
    }


@pytest.fixture
def world(connections, signing_key, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SEARCH_DB_PATH", str(tmp_path / "search.db"))
    ColdStart.forget_all()
    make_chat("project-x", ["alice", "bob"])
    DynamoConnectionStore().add("alice-1", "alice", int(time.time() * 1000), int(time.time()) + 60)
    return connections


def frame_reply(handlers, path: str, body: str | dict, route: str, user: str = "alice") -> dict:
    response = handlers[path].handler(message_event("alice-1", user, body, route), LambdaContext())
    assert response["statusCode"] == 200
    return json.loads(response["body"])


def assert_bad_frame(reply: dict, field: str) -> None:
    error = reply["payload"]["error"] if reply["type"] == "ack" else reply["payload"]
    assert error["code"] == "BAD_FRAME", reply
    assert field in error["message"], reply


def test_json_nested_a_thousand_deep_gets_bad_frame(handlers, world):
    body = '{"type": "ping", "id": "deep-1", "payload": ' + "[" * 1000 + "]" * 1000 + "}"
    reply = frame_reply(handlers, "sessions/default_route.py", body, "$default")
    assert reply["type"] == "error"
    assert_bad_frame(reply, "nested deeper")


def test_json_nested_deeper_than_the_limit_names_the_field(handlers, world):
    body = json.dumps(client_frame("message.send", {"chatId": "project-x", "content": "x", "extra": [[[[[[[[]]]]]]]]}))
    body = body.replace("[[[[[[[[]]]]]]]]", "[" * 40 + "]" * 40)
    reply = frame_reply(handlers, "messaging/message_send.py", body, "message.send")
    assert_bad_frame(reply, "payload.extra")


@pytest.mark.parametrize("where", ["id", "type", "payload.content", "payload key"])
def test_a_lone_surrogate_in_any_string_gets_bad_frame_naming_it(handlers, world, where):
    frame = client_frame("message.send", {"chatId": "project-x", "content": "hi"}, frame_id="surrogate-1")
    body = json.dumps(frame)  # ASCII: the surrogate travels as the JSON escape a client would send
    if where == "id":
        body = body.replace('"surrogate-1"', '"\\ud800"')
    elif where == "type":
        body = body.replace('"message.send"', '"message.send\\udfff"')
    elif where == "payload.content":
        body = body.replace('"hi"', '"h\\ud83di"')
    else:
        body = body.replace('"content"', '"\\ud800": 1, "content"')
    reply = frame_reply(handlers, "messaging/message_send.py", body, "message.send")
    assert_bad_frame(reply, "surrogate")
    assert reply["payload"].get("refId") == (None if where == "id" else "surrogate-1")
    # A bad envelope is an `error` frame; a bad payload in a good envelope is that frame's ack.
    assert reply["type"] == ("ack" if where.startswith("payload") else "error")
    if where == "payload.content":
        assert "payload.content" in reply["payload"]["error"]["message"]
    assert not MessageModel.count("project-x"), "nothing was stored"


def test_nan_is_not_json(handlers, world):
    body = '{"type": "ping", "id": "n", "payload": {"x": NaN}}'
    reply = frame_reply(handlers, "sessions/default_route.py", body, "$default")
    assert_bad_frame(reply, "not valid JSON")


def test_a_nul_in_a_search_query_is_searched_not_unavailable(handlers, world):
    frame = client_frame("search.query", {"query": "bud\x00get", "scope": "messages"})
    reply = frame_reply(handlers, "search/search_frames.py", frame, "search.query")
    assert reply["type"] == "search.results", reply
    assert reply["payload"]["refId"] == frame["id"]


def cursor(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("position", [True, 2**63, 1.5, -1, "3"])
def test_a_sync_cursor_that_is_not_a_position_gets_bad_frame(handlers, world, position):
    frame = client_frame("sync.request", {"chatId": "project-x", "cursor": cursor({"c": "project-x", "s": position})})
    reply = frame_reply(handlers, "messaging/sync_request.py", frame, "sync.request")
    assert_bad_frame(reply, "cursor")


def test_a_huge_last_known_seq_gets_bad_frame(handlers, world):
    frame = client_frame("sync.request", {"chatId": "project-x", "lastKnownSeq": 2**64})
    assert_bad_frame(frame_reply(handlers, "messaging/sync_request.py", frame, "sync.request"), "lastKnownSeq")


@pytest.mark.parametrize("offset", [2**63, 10**30, 10_000, True])
def test_a_search_cursor_out_of_range_gets_bad_frame(handlers, world, offset):
    frame = client_frame("search.query", {"query": "budget", "cursor": cursor({"o": offset})})
    assert_bad_frame(frame_reply(handlers, "search/search_frames.py", frame, "search.query"), "cursor")


def test_deep_paging_stops_at_the_result_window(world):
    results = search_service().search("alice", "budget", cursor=cursor({"o": 9_990}), limit=50)
    assert results.cursor is None


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 2**63, "iat": 0},
        {"exp": 2**63},
        {"exp": int(time.time()) + 400 * 24 * 3600},
    ],
    ids=["exp-2^63-iat-0", "exp-2^63", "a-400-day-token"],
)
def test_auth_renew_with_an_absurd_exp_is_unauthorized(handlers, world, signing_key, claims):
    now = int(time.time())
    token = jwt.encode(
        {"sub": "alice", "iat": now, "iss": ISSUER, "aud": AUDIENCE, **claims}, signing_key, algorithm=ALGORITHMS[0]
    )
    reply = frame_reply(
        handlers, "sessions/session_frames.py", client_frame("auth.renew", {"token": token}), "auth.renew"
    )
    assert reply["payload"]["status"] == "error", reply
    assert reply["payload"]["error"]["code"] == "UNAUTHORIZED"
    assert "exp" in reply["payload"]["error"]["message"]


def test_an_attachment_size_beyond_64_bits_never_poisons_the_indexer(handlers, world):
    """Another part of the stack bounds `size` at the frame; the indexer must cope with any
    stored value anyway: the message is indexed (without the unusable size) and found."""
    from tests.support.services import GivenAttachments, message_service
    from tidings.messaging.sending import SendMessage

    stored = [{"attachmentId": "a-1", "name": "report.pdf", "size": 2**63 + 5, "contentType": "application/pdf"}]
    message = message_service(GivenAttachments(stored)).send(
        "alice",
        SendMessage(request_id="huge-size", chat_id="project-x", content="quarterly budget", attachment_ids=["a-1"]),
    )
    records = stream_records(MessageModel.Meta.table_name)
    result = handlers["search/index_consumer.py"].handler({"Records": records}, LambdaContext())
    assert result == {"batchItemFailures": []}
    found = search_service().search("bob", "report", scope="files")
    assert [r["file"]["messageId"] for r in found.results] == [message.message_id]
    assert found.results[0]["file"]["size"] is None


def rest(handlers, body: str) -> dict:
    event = http_event("PUT", "/api/prefs", token=issue_token("alice", settings_key()), body=body)
    return handlers["notifications/prefs_api.py"].handler(event, LambdaContext())


def settings_key() -> str:
    from tests.support.services import signing_key

    return signing_key()


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("[" * 1000 + "]" * 1000, "nested deeper"),
        ('{"level": "\\ud800"}', "level"),
        ('{"x": Infinity}', "JSON object"),
    ],
    ids=["deep", "surrogate", "infinity"],
)
def test_rest_bodies_that_cannot_be_used_get_400_naming_the_problem(handlers, world, body, named):
    response = rest(handlers, body)
    assert response["statusCode"] == 400, response
    error = json.loads(response["body"])["error"]
    assert error["code"] == "BAD_FRAME"
    assert named in error["message"]
