"""The load benchmark's measurement (`bench_load.Bench`) on the SDK's fake server: what it counts
per message when the clients are `tidings_client` clients. `make bench` runs it for real."""

from __future__ import annotations

import asyncio

from tidings_client.testing import FakeConnection, FakeServer, message
from tidings_local.bench_load import CHAT_ID, Bench


async def _serve(server: FakeServer, connection: FakeConnection, seqs: list[int], rate_limit_first: bool) -> None:
    """Stores each message.send (a new seq), acks it and sends message.new to every connection;
    with `rate_limit_first`, the first attempt of the first message is refused RATE_LIMITED."""
    while True:
        frame = await connection.receive("message.send", timeout=30)
        if rate_limit_first:
            rate_limit_first = False
            connection.ack_error(frame, "RATE_LIMITED", retry_after_ms=10)
            continue
        seqs.append(len(seqs) + 1)
        stored = message(CHAT_ID, seqs[-1], content=frame["payload"]["content"], message_id=f"m-{frame['id']}")
        connection.ack(frame, message=stored)
        for other in server.connections:
            other.push("message.new", {"chatId": CHAT_ID, "seq": seqs[-1], "message": stored})


async def test_every_message_is_acked_and_delivered_to_every_client_and_frames_are_metered() -> None:
    server = FakeServer()
    bench = Bench(window=3, rate=0)
    # Not a `/ws` URL: no REST API to take the chat's headSeq from, so it is tracked from its first event.
    await bench.connect("ws://bench.test/socket", ["alice", "bob"], lambda user: f"token-{user}", transport=server)
    seqs: list[int] = []
    servers = [
        asyncio.create_task(_serve(server, connection, seqs, rate_limit_first=index == 0))
        for index, connection in enumerate(server.connections)
    ]
    try:
        bench.begin(4)
        await bench.send_all("run")
        await asyncio.wait_for(bench.done.wait(), timeout=30)
    finally:
        for task in servers:
            task.cancel()
        await bench.close()

    assert (bench.sent, bench.acked, bench.delivered) == (4, 4, 4)
    for pending in bench.messages:
        assert pending.failed is None and pending.message_id == f"m-{pending.frame_id}"
        assert sorted(pending.receipts) == [0, 1], "delivered to both clients, the sender's from its ack"
        assert pending.acked_at is not None and pending.acked_at >= pending.sent_at
    assert [p.sender for p in bench.messages] == [0, 1, 0, 1]
    assert bench.errors == {"RATE_LIMITED": 1}  # retried by the SDK with the same id
    assert bench.id_mismatches == 0
    assert bench.frames_in.frames >= 5  # 4 sends and the retry (and the hellos)
    assert bench.frames_out.frames >= 4 + 1 + 8  # the acks, the refusal, message.new to each
    assert bench.closed == []
