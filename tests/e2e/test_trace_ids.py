"""A message's trace id over real WebSockets: the ack and the `message.new` every member gets
carry the trace id the sender's `message.send` gave (`send(..., trace_id=)`; docs/operations.md)."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.e2e


async def test_message_new_carries_the_trace_id_the_sender_gave(server):
    alice = await server.connect("alice")  # the SDK: send(trace_id=) through its outbox
    bob = await server.connect("bob", raw=True)
    try:
        trace_id = f"e2e-{uuid.uuid4().hex[:12]}"
        frame_id = str(uuid.uuid4())
        message = await alice.send("dm-alice-bob", "traced", id=frame_id, trace_id=trace_id)
        ack = await alice.wait_for(lambda f: f["type"] == "ack" and f["payload"].get("refId") == frame_id)
        assert ack["payload"]["status"] == "ok"
        assert ack.get("traceId") == trace_id
        delivered = await bob.wait_for(
            lambda f: f["type"] == "message.new" and f["payload"]["message"]["messageId"] == message["messageId"]
        )
        assert delivered.get("traceId") == trace_id
    finally:
        for client in (alice, bob):
            await client.close()


async def test_a_message_sent_without_one_gets_a_trace_id_on_its_frames(server):
    alice = await server.connect("alice", raw=True)
    bob = await server.connect("bob", raw=True)
    try:
        ack = await alice.request("message.send", {"chatId": "dm-alice-bob", "content": "untraced"})
        trace_id = ack.get("traceId")
        assert isinstance(trace_id, str) and len(trace_id) == 32
        message_id = ack["payload"]["message"]["messageId"]
        delivered = await bob.wait_for(
            lambda f: f["type"] == "message.new" and f["payload"]["message"]["messageId"] == message_id
        )
        assert delivered.get("traceId") == trace_id
    finally:
        for client in (alice, bob):
            await client.close()
