"""Mutations on a fake server and clock: acks, same-id retries, the outbox, per-chat order,
rate limits, errors, and a SQLite outbox that survives a restart."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from tidings_client import (
    ConflictError,
    ForbiddenError,
    FrameTooLargeError,
    RateLimitedError,
    SqliteOutbox,
    TidingsClient,
    TidingsError,
)
from tidings_client.testing import FakeClock, FakeServer, message, settle


def stored(frame: dict, seq: int) -> dict:
    return message(frame["payload"]["chatId"], seq, content=frame["payload"]["content"], sender="alice")


async def test_send_returns_the_stored_message(make_client, server: FakeServer):
    client = make_client()
    await client.connect()
    sending = asyncio.create_task(client.send("c1", "hello", reply_to="m0", priority="urgent"))
    frame = await server.current.receive("message.send")
    assert frame["payload"] == {"chatId": "c1", "content": "hello", "replyTo": "m0", "priority": "urgent"}
    server.current.ack(frame, message=stored(frame, 7))
    result = await sending
    assert result["seq"] == 7 and result["content"] == "hello"
    assert client.pending_outbox() == []


async def test_no_ack_within_5_seconds_resends_with_the_same_id(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    await client.connect()
    sending = asyncio.create_task(client.send("c1", "hello"))
    first = await server.current.receive("message.send")
    await clock.advance(4.9)
    assert server.current.unread("message.send") == []
    await clock.advance(0.1)
    second = await server.current.receive("message.send")
    assert second["id"] == first["id"] and second["payload"] == first["payload"]
    server.current.ack(first, message=stored(first, 1))  # the late ack of the first attempt counts
    assert (await sending)["seq"] == 1


async def test_a_connection_lost_before_the_ack_resends_on_the_next_with_the_same_id(
    make_client, server: FakeServer, clock: FakeClock
):
    client = make_client()
    await client.connect()
    sending = asyncio.create_task(client.send("c1", "hello"))
    first = await server.current.receive("message.send")
    server.current.drop()
    await clock.advance(1)
    again = await server.connections[1].receive("message.send")
    assert again["id"] == first["id"]
    server.connections[1].ack(again, message=stored(again, 3))
    assert (await sending)["seq"] == 3


async def test_sends_while_disconnected_wait_in_the_outbox_and_go_in_order(
    make_client, server: FakeServer, clock: FakeClock
):
    client = make_client()
    await client.connect()
    server.unreachable(times=1)
    server.current.drop()
    await settle()
    sends = [asyncio.create_task(client.send("c1", f"m{i}")) for i in range(3)]
    other = asyncio.create_task(client.send("c2", "elsewhere"))
    await settle()
    assert [e.payload["content"] for e in client.pending_outbox()] == ["m0", "m1", "m2", "elsewhere"]
    await clock.advance(1 + 2)
    connection = server.connections[1]
    # One chat's messages go one at a time: the next only after the previous ack.
    for seq in range(3):
        frame = await connection.receive("message.send")
        if frame["payload"]["chatId"] == "c2":
            connection.ack(frame, message=stored(frame, 1))
            frame = await connection.receive("message.send")
        assert frame["payload"]["content"] == f"m{seq}"
        await settle()
        assert [f for f in connection.unread("message.send") if f["payload"]["chatId"] == "c1"] == []
        connection.ack(frame, message=stored(frame, seq + 1))
    if not other.done():
        frame = await connection.receive("message.send")
        connection.ack(frame, message=stored(frame, 1))
    assert [(await s)["content"] for s in sends] == ["m0", "m1", "m2"]
    await other
    assert client.pending_outbox() == []


async def test_rate_limited_is_retried_after_retry_after_ms(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    await client.connect()
    sending = asyncio.create_task(client.send("c1", "hello"))
    first = await server.current.receive("message.send")
    server.current.ack_error(first, "RATE_LIMITED", "Slow down", retry_after_ms=1500)
    await clock.advance(1.4)
    assert server.current.unread("message.send") == []
    await clock.advance(0.1)
    again = await server.current.receive("message.send")
    assert again["id"] == first["id"]
    server.current.ack(again, message=stored(again, 1))
    assert (await sending)["seq"] == 1


async def test_a_rate_limit_longer_than_the_wait_limit_raises(make_client, server: FakeServer):
    client = make_client(max_rate_limit_wait=60)
    await client.connect()
    sending = asyncio.create_task(client.send("c1", "urgent!", priority="urgent"))
    frame = await server.current.receive("message.send")
    server.current.ack_error(frame, "RATE_LIMITED", "3 urgent messages per hour", retry_after_ms=1_800_000)
    with pytest.raises(RateLimitedError) as caught:
        await sending
    assert caught.value.retry_after_ms == 1_800_000
    assert caught.value.code == "RATE_LIMITED"


async def test_a_refusal_raises_with_its_code_and_the_lane_goes_on(make_client, server: FakeServer):
    client = make_client()
    await client.connect()
    first = asyncio.create_task(client.send("c1", "one", id="reused-id"))
    second = asyncio.create_task(client.send("c1", "two"))
    frame = await server.current.receive("message.send")
    server.current.ack_error(frame, "CONFLICT", "id reused with another payload")
    with pytest.raises(ConflictError) as caught:
        await first
    assert isinstance(caught.value, TidingsError)
    assert (caught.value.code, caught.value.message) == ("CONFLICT", "id reused with another payload")
    next_frame = await server.current.receive("message.send")
    assert next_frame["payload"]["content"] == "two"
    server.current.ack(next_frame, message=stored(next_frame, 2))
    assert (await second)["seq"] == 2


async def test_internal_errors_are_retried_with_the_same_id(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    await client.connect()
    sending = asyncio.create_task(client.edit("m1", "fixed"))
    frame = await server.current.receive("message.edit")
    server.current.ack_error(frame, "INTERNAL", "try again")
    await clock.advance(1)
    again = await server.current.receive("message.edit")
    assert again["id"] == frame["id"]
    server.current.ack(again, chatId="c1", seq=5, messageId="m1", message=message("c1", 1, "fixed"))
    assert (await sending)["content"] == "fixed"


async def test_edit_delete_react_frames(make_client, server: FakeServer):
    client = make_client()
    await client.connect()
    deleting = asyncio.create_task(client.delete("m1"))
    frame = await server.current.receive("message.delete")
    assert frame["payload"] == {"messageId": "m1"}
    server.current.ack(frame, chatId="c1", seq=9, messageId="m1")
    assert (await deleting)["seq"] == 9
    reacting = asyncio.create_task(client.react("m2", "👍"))
    frame = await server.current.receive("message.react")
    assert frame["payload"] == {"messageId": "m2", "emoji": "👍", "action": "add"}
    server.current.ack_error(frame, "FORBIDDEN", "not a member")
    with pytest.raises(ForbiddenError):
        await reacting


async def test_a_sqlite_outbox_survives_a_restart(tmp_path, clock: FakeClock):
    path = tmp_path / "outbox.sqlite"
    server = FakeServer()
    first = TidingsClient("ws://x/ws", "t", clock=clock, transport=server, outbox=SqliteOutbox(path))
    await first.connect()
    sends = [asyncio.create_task(first.send("c1", f"m{i}")) for i in range(2)]
    frame = await server.current.receive("message.send")  # sent, never acked: the process dies
    await first.close()
    for send in sends:
        with pytest.raises(TidingsError):
            await send

    restarted = TidingsClient("ws://x/ws", "t", clock=clock, transport=server, outbox=SqliteOutbox(path))
    assert [e.payload["content"] for e in restarted.pending_outbox()] == ["m0", "m1"]
    outcomes: list[dict] = []  # no call awaits these: their results come as outbox events
    restarted.on("outbox", lambda event: outcomes.append(event["payload"]))
    await restarted.connect()
    again = await server.current.receive("message.send")
    assert again["id"] == frame["id"] and again["payload"]["content"] == "m0"
    server.current.ack(again, message=stored(again, 1))
    last = await server.current.receive("message.send")
    assert last["payload"]["content"] == "m1"
    server.current.ack(last, message=stored(last, 2))
    await settle()
    assert [(o["action"], o["entry"].payload["content"], o["ack"]["message"]["seq"]) for o in outcomes] == [
        ("acked", "m0", 1),
        ("acked", "m1", 2),
    ]
    assert restarted.pending_outbox() == []
    assert SqliteOutbox(path).load() == []
    await restarted.close()


async def test_send_with_a_trace_id_carries_it_on_every_attempt(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    await client.connect()
    sending = asyncio.create_task(client.send("c1", "traced", trace_id="order-4711-abc"))
    first = await server.current.receive("message.send")
    assert first["traceId"] == "order-4711-abc"
    assert [e.trace_id for e in client.pending_outbox()] == ["order-4711-abc"]
    await clock.advance(5)  # no ack: the same frame again, trace id included
    again = await server.current.receive("message.send")
    assert (again["id"], again["traceId"]) == (first["id"], "order-4711-abc")
    server.current.ack(again, message=stored(again, 1))
    await sending
    plain = asyncio.create_task(client.send("c1", "untraced"))
    untraced = await server.current.receive("message.send")
    assert "traceId" not in untraced
    server.current.ack(untraced, message=stored(untraced, 2))
    await plain


async def test_a_trace_id_the_server_would_replace_is_refused_before_it_is_queued(make_client):
    client = make_client()
    await client.connect()
    for trace_id in ("short", "has space in it", "x" * 65):
        with pytest.raises(ValueError, match="trace_id"):
            await client.send("c1", "hi", trace_id=trace_id)
    assert client.pending_outbox() == []


async def test_a_sqlite_outbox_keeps_the_trace_id_across_a_restart(tmp_path, clock: FakeClock):
    path = tmp_path / "outbox.sqlite"
    server = FakeServer()
    first = TidingsClient("ws://x/ws", "t", clock=clock, transport=server, outbox=SqliteOutbox(path))
    await first.connect()
    sending = asyncio.create_task(first.send("c1", "traced", trace_id="trace-of-m0"))
    await server.current.receive("message.send")  # never acked: the process dies
    await first.close()
    with pytest.raises(TidingsError):
        await sending

    restarted = TidingsClient("ws://x/ws", "t", clock=clock, transport=server, outbox=SqliteOutbox(path))
    await restarted.connect()
    again = await server.current.receive("message.send")
    assert again["traceId"] == "trace-of-m0"
    server.current.ack(again, message=stored(again, 1))
    await settle()
    assert restarted.pending_outbox() == []
    await restarted.close()


# The outbox table as tidings_client wrote it before trace ids (no user_version, no trace_id).
OUTBOX_SCHEMA_1 = (
    "CREATE TABLE IF NOT EXISTS outbox ("
    " position INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, payload TEXT NOT NULL,"
    " lane TEXT NOT NULL, created_at REAL NOT NULL)"
)


async def test_an_outbox_file_of_the_first_schema_is_upgraded_and_flushes(tmp_path, clock: FakeClock):
    path = tmp_path / "old-outbox.sqlite"
    old = sqlite3.connect(path)
    old.execute(OUTBOX_SCHEMA_1)
    old.execute(
        "INSERT INTO outbox (id, type, payload, lane, created_at) VALUES (?, ?, ?, ?, ?)",
        ("old-1", "message.send", '{"chatId": "c1", "content": "from before"}', "chat:c1", 1.0),
    )
    old.commit()
    old.close()

    server = FakeServer()
    outbox = SqliteOutbox(path)
    assert [(e.id, e.payload["content"], e.trace_id) for e in outbox.load()] == [("old-1", "from before", None)]
    client = TidingsClient("ws://x/ws", "t", clock=clock, transport=server, outbox=outbox)
    await client.connect()
    frame = await server.current.receive("message.send")
    assert (frame["id"], frame["payload"]["content"]) == ("old-1", "from before")
    assert "traceId" not in frame
    server.current.ack(frame, message=stored(frame, 1))
    sending = asyncio.create_task(client.send("c1", "after", trace_id="trace-after-upgrade"))
    await server.current.receive("message.send")  # the upgraded file takes a traced entry
    assert [e.trace_id for e in SqliteOutbox(path).load()] == ["trace-after-upgrade"]
    await client.close()
    with pytest.raises(TidingsError):
        await sending
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone() == (2,)


def test_an_outbox_file_of_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "newer.sqlite"
    SqliteOutbox(path).close()
    with sqlite3.connect(path) as newer:
        newer.execute("PRAGMA user_version = 99")
    with pytest.raises(RuntimeError, match="upgrade tidings_client"):
        SqliteOutbox(path)


async def test_a_closed_client_refuses_new_mutations(make_client):
    client = make_client()
    await client.connect()
    await client.close()
    with pytest.raises(TidingsError) as caught:
        await client.send("c1", "too late")
    assert caught.value.code == "CLOSED"


async def test_a_frame_over_64_kib_is_refused_before_it_is_queued(make_client, server: FakeServer):
    client = make_client()
    await client.connect()
    with pytest.raises(FrameTooLargeError):
        await client.send("c1", "x" * 70_000)
    assert client.pending_outbox() == []
    assert server.current.sent_of_type("message.send") == []
