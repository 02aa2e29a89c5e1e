"""Driving the frame edge as API Gateway does, and the property every answer must have."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from hypothesis import event

from tests.fuzz.conftest import World, assert_no_traceback, handler_of
from tests.support.events import message_event
from tests.support.frame_contract import contract
from tests.support.lambdas import LambdaContext
from tidings.app import APPLICATION
from tidings.kernel.errors import ErrorCode
from tidings.sessions.connection_store import DynamoConnectionStore
from tidings_local.apigw import mock_reply, select_route

MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message limit
# Frames the protocol answers with no reply when they are valid.
MAY_GO_UNANSWERED = {"typing.start", "typing.stop"}
REPLY_TYPES = {"ack", "error", "pong", "welcome", "sync.response", "search.results", "search.suggestions"}
CODES = {code.value for code in ErrorCode}

_connections = itertools.count()


@dataclass
class Answer:
    route_key: str
    replies: list[dict[str, Any]]
    closed: bool


def deliver(world: World, body: str, user: str = "alice") -> Answer:
    """Sends `body` on a new connection of `user` the way API Gateway routes it (route
    selection, the mock `ping` route), and collects every reply: the route's response and
    what the function posted back to the connection (`presence.subscribe` acks that way).
    Every frame, returned or posted, must be a server frame of docs/asyncapi.yaml."""
    connection_id = f"fuzz-{next(_connections)}="
    now = int(time.time())
    DynamoConnectionStore().add(connection_id, user, now * 1000, now + 900)
    mocked = mock_reply(APPLICATION, body, "mock-request")
    if mocked is not None:
        return Answer("(mock)", [json.loads(mocked)], closed=False)
    route = select_route(APPLICATION, body)
    assert route is not None, "the API has a $default route"
    response = handler_of(route.function)(message_event(connection_id, user, body, route.key), LambdaContext())
    assert isinstance(response, dict) and response.get("statusCode") == 200, response
    replies = []
    if "body" in response:
        replies.append(_well_formed_text(response["body"]))
    posted = [_well_formed_text(data) for data in world.connections.sent.get(connection_id, [])]
    replies += [frame for frame in posted if frame["type"] in REPLY_TYPES]
    return Answer(route.key, replies, connection_id in world.connections.closed)


def _well_formed_text(text: str) -> dict[str, Any]:
    size = len(text.encode("utf-8"))  # raises for a lone surrogate: unsendable
    assert size <= MAX_MESSAGE_BYTES, f"a {size}-byte reply exceeds API Gateway's message limit"
    frame = json.loads(text)
    assert isinstance(frame, dict), frame
    assert isinstance(frame.get("type"), str) and isinstance(frame.get("id"), str), frame
    assert isinstance(frame.get("timestamp"), str) and isinstance(frame.get("payload"), dict), frame
    problems = contract().problems(frame)  # docs/asyncapi.yaml, as the e2e suite checks its frames
    assert not problems, f"a server frame that docs/asyncapi.yaml does not describe: {text[:500]}\n" + "\n".join(
        problems
    )
    return frame


def readable_id(body: str) -> str | None:
    try:
        frame = json.loads(body)
    except (ValueError, RecursionError):
        return None
    frame_id = frame.get("id") if isinstance(frame, dict) else None
    if not isinstance(frame_id, str) or not 0 < len(frame_id) <= 128:
        return None
    try:
        frame_id.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return frame_id


def _outcome(reply: dict[str, Any]) -> str:
    """`ack ok`, `ack FORBIDDEN`, `error BAD_FRAME`, `sync.response`: for the statistics
    (`pytest --hypothesis-show-statistics`), to see how deep the examples reach."""
    payload = reply["payload"]
    if reply["type"] == "ack":
        return "ack ok" if payload.get("status") == "ok" else f"ack {(payload.get('error') or {}).get('code')}"
    if reply["type"] == "error":
        return f"error {payload.get('code')}"
    return str(reply["type"])


def check(world: World, body: str, answer: Answer) -> None:
    """Exactly one well-formed reply (none allowed for typing), never INTERNAL, the connection
    still open (unless the protocol closes it: UPGRADE_REQUIRED), nothing logged as an error."""
    lines = world.log_lines()
    event(f"{answer.route_key}: {', '.join(_outcome(r) for r in answer.replies) or 'no reply'}")
    expected = range(2) if answer.route_key in MAY_GO_UNANSWERED else range(1, 2)
    assert len(answer.replies) in expected, (answer.route_key, answer.replies)
    frame_id = readable_id(body)
    for reply in answer.replies:
        payload = reply["payload"]
        if reply["type"] == "ack":
            assert payload.get("status") in ("ok", "error"), reply
            if payload["status"] == "error":
                error = payload.get("error")
                assert isinstance(error, dict) and error.get("code") in CODES, reply
                assert isinstance(error.get("message"), str), reply
                assert error["code"] != "INTERNAL", (body[:300], reply)
        elif reply["type"] == "error":
            assert payload.get("code") in CODES and isinstance(payload.get("message"), str), reply
            assert payload["code"] != "INTERNAL", (body[:300], reply)
        if reply["type"] != "error" and frame_id is not None:
            assert payload.get("refId") == frame_id, (frame_id, reply)
    if answer.closed:
        assert any(r["payload"].get("code") == "UPGRADE_REQUIRED" for r in answer.replies), answer
    assert_no_traceback(lines)
