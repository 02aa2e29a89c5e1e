"""The frame fuzzer over a real WebSocket against `tidings dev`: the gateway's route selection,
its mock `ping` route and its 128 KiB reply limit in the loop. Every frame that needs a reply
gets exactly one, never INTERNAL; the connection stays open throughout; the runtime's log
holds no error and no traceback. Fewer examples than the moto suite: each is a connection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import Server, start_server, stop_server
from tests.fuzz.conftest import websocket_routes
from tests.fuzz.frames import CODES, MAY_GO_UNANSWERED, readable_id
from tests.fuzz.strategies import CHATS, USERS, dumps, envelopes, frame_ids, model_payloads, raw_texts
from tests.fuzz.test_frames import payload_model
from tidings_client import ConnectionState

pytestmark = pytest.mark.e2e

# `hello` with another protocol version is answered UPGRADE_REQUIRED and closed, by design.
ROUTES = [key for key in websocket_routes() if key != "hello"]
CONTEXT: dict[str, Any] = {"chatId": CHATS, "userIds": [USERS, ["zed"]]}
REPLY_SECONDS = 15.0


@pytest.fixture(scope="module")
def runtime() -> Iterator[Server]:
    process, server, log_path = start_server(log_name="tidings-dev-fuzz")
    server.token("alice")  # once, before the examples
    yield server
    stop_server(process)
    log = log_path.read_text()
    errors = [line for line in log.splitlines() if '"level":"ERROR"' in line or "Traceback" in line]
    assert not errors, errors[:3]


def structured() -> st.SearchStrategy[str]:
    def frame(route_key: str) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {
                "type": st.just(route_key),
                "id": frame_ids,
                "payload": model_payloads(payload_model(route_key), CONTEXT),
            }
        )

    return st.sampled_from(ROUTES).flatmap(frame).map(lambda f: dumps(f, ascii_only=False))


bodies = st.one_of(
    structured(),
    raw_texts(ROUTES).filter(lambda text: '"hello"' not in text),
    envelopes(ROUTES).map(lambda envelope: dumps(envelope, ascii_only=True)).filter(lambda t: '"hello"' not in t),
)


def frame_type(body: str) -> str | None:
    try:
        frame = json.loads(body)
    except (ValueError, RecursionError):
        return None
    value = frame.get("type") if isinstance(frame, dict) else None
    return value if isinstance(value, str) else None


def is_reply(frame: dict[str, Any], body: str) -> bool:
    payload = frame.get("payload") or {}
    frame_id = readable_id(body)
    if frame.get("type") == "pong" and frame_type(body) == "ping":
        return True  # the mock route echoes whatever `id` was, readable or not
    if frame.get("type") == "error":
        # Whether an id can be read from a frame nested near the parser's limit depends on the
        # stack the parser runs on, so an error may or may not carry it.
        return payload.get("refId") in (None, frame_id)
    return frame_id is not None and payload.get("refId") == frame_id


def check_reply(reply: dict[str, Any], body: str) -> None:
    payload = reply.get("payload")
    assert isinstance(payload, dict), reply
    code = payload.get("error", {}).get("code") if reply.get("type") == "ack" else payload.get("code")
    if reply.get("type") in ("ack", "error") and code is not None:
        assert code in CODES and code != "INTERNAL", (body[:300], reply)


async def exchange(server: Server, bodies: list[str]) -> None:
    client = await server.connect("alice", raw=True)  # a raw SDK client: every frame as it is
    try:
        for body in bodies:
            mark = client.mark()
            await client.send_raw(body)
            if frame_type(body) in MAY_GO_UNANSWERED:
                continue
            reply = await client.wait_for(lambda f, body=body: is_reply(f, body), timeout=REPLY_SECONDS, after=mark)
            check_reply(reply, body)
        assert client.state is ConnectionState.CONNECTED, "the connection stayed open"
        pong = await client.request("ping", {}, timeout=REPLY_SECONDS)
        assert pong["type"] == "pong"
    finally:
        await client.close()


@settings(max_examples=max(3, settings.default.max_examples // 20))
@given(frames=st.lists(bodies, min_size=5, max_size=20))
def test_a_real_connection_answers_every_hostile_frame_and_stays_open(runtime, frames):
    asyncio.run(exchange(runtime, frames))
