"""Property-based fuzzing of the frame edge, through the real handlers on moto: for any input,
exactly one well-formed reply (typing may go unanswered), never INTERNAL, the connection kept,
no traceback in the log (tests/fuzz/frames.py). The routes come from `APPLICATION.routes` and
the payload shapes from each route's own model, so a new route is fuzzed without a change here."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import World, module_of, websocket_routes
from tests.fuzz.frames import check, deliver
from tests.fuzz.strategies import dumps, envelopes, frame_ids, hostile_text, model_payloads, raw_texts
from tests.support.events import client_frame
from tidings.app import APPLICATION

ROUTES = websocket_routes()
SENDERS = st.sampled_from(["alice", "erin"])  # a member of every chat, and of one


def payload_model(route_key: str) -> Any:
    route = APPLICATION.route(route_key)
    assert route is not None
    return module_of(route.function).route.route_for(route_key).payload_model


def frames(world: World) -> st.SearchStrategy[dict[str, Any]]:
    """A frame of a declared route (or an unknown type, for $default), its payload shaped like
    the route's model with hostile values in every field."""

    def frame(route_key: str) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {
                "type": st.just(route_key),
                "id": frame_ids,
                "payload": model_payloads(payload_model(route_key), world.context),
            },
            optional={"timestamp": st.just("2026-11-25T10:00:00.000Z") | hostile_text},
        )

    unknown = st.fixed_dictionaries(
        {"type": st.sampled_from(["no.such.type", "$connect", "ping"]), "id": st.uuids().map(str)},
        optional={"payload": model_payloads(payload_model("$default"), world.context)},
    )
    return st.sampled_from([*ROUTES, None]).flatmap(lambda key: unknown if key is None else frame(key))


def test_every_declared_route_is_fuzzed():
    """Guards the derivation: each client route has a payload model the strategies can read."""
    assert {"message.send", "sync.request", "search.query", "presence.subscribe", "hello"} <= set(ROUTES)
    for route_key in [*ROUTES, "$default"]:
        assert payload_model(route_key).model_fields is not None


@given(data=st.data())
def test_structured_frames_of_every_route_get_exactly_one_good_reply(world, data):
    frame = data.draw(frames(world), label="frame")
    body = dumps(frame, ascii_only=data.draw(st.booleans(), label="ascii"))
    check(world, body, deliver(world, body, user=data.draw(SENDERS, label="user")))


@given(data=st.data())
def test_raw_text_and_broken_envelopes_get_exactly_one_good_reply(world, data):
    body = data.draw(
        raw_texts(ROUTES) | envelopes(ROUTES).map(lambda envelope: dumps(envelope, ascii_only=True)), label="body"
    )
    check(world, body, deliver(world, body))


def test_an_attachment_described_by_the_client_is_bad_frame(world: World):
    """Found by this suite when attachments were client metadata: a size of 2^63 was acked and
    stored, and then poisoned the search indexer. Now a message names uploads by id only."""
    frame = client_frame(
        "message.send",
        {"chatId": "general", "content": "report", "attachments": [{"name": "a.pdf", "size": 2**63}]},
    )
    (reply,) = deliver(world, json.dumps(frame)).replies
    assert reply["payload"]["status"] == "error", reply
    assert reply["payload"]["error"]["code"] == "BAD_FRAME"
    assert "attachments.0.attachmentId" in reply["payload"]["error"]["message"]


def test_an_attachment_that_is_no_upload_is_not_found(world: World):
    frame = client_frame("message.send", {"chatId": "general", "content": "x", "attachments": [{"attachmentId": "a"}]})
    (reply,) = deliver(world, json.dumps(frame)).replies
    assert reply["payload"]["error"]["code"] == "NOT_FOUND", reply
