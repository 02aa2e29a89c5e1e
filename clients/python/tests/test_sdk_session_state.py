"""Throttles, debounces and session state on a fake server and clock: typing, read marks,
presence subscriptions and status, focus, suggestions, search."""

from __future__ import annotations

import asyncio

import pytest

from tidings_client import TidingsClient, UnavailableError
from tidings_client.testing import FakeClock, FakeServer, settle


async def test_typing_sends_at_most_one_start_per_3_seconds_per_chat(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    await client.connect()
    sent = []
    for _ in range(10):  # keystrokes every 0.5 s for 5 s
        sent.append(await client.typing("c1"))
        await clock.advance(0.5)
    assert sent == [True, False, False, False, False, False, True, False, False, False]
    assert await client.typing("c2")  # another chat has its own timer
    starts = server.current.sent_of_type("typing.start")
    assert [f["payload"]["chatId"] for f in starts] == ["c1", "c1", "c2"]


async def test_sending_a_message_ends_typing_so_the_next_keystroke_says_so(make_client, server: FakeServer):
    from tidings_client.testing import message

    client = make_client()
    await client.connect()
    assert await client.typing("c1")
    sending = asyncio.create_task(client.send("c1", "done"))
    frame = await server.current.receive("message.send")
    server.current.ack(frame, message=message("c1", 1, "done", sender="alice"))
    await sending
    assert await client.typing("c1")


async def test_typing_while_disconnected_sends_nothing(make_client, server: FakeServer):
    client = make_client()
    await client.connect()
    server.unreachable(times=5)
    server.current.drop()
    await settle()
    assert not await client.typing("c1")


async def test_read_marks_are_coalesced_to_one_per_second_per_chat(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    await client.connect()
    marks = [asyncio.create_task(client.mark_read("c1", "m0"))]
    await settle()
    marks += [asyncio.create_task(client.mark_read("c1", f"m{i}")) for i in range(1, 5)]
    other = asyncio.create_task(client.mark_read("c2", "x1"))
    await settle()
    first = await server.current.receive("read.mark")
    assert first["payload"] == {"chatId": "c1", "messageId": "m0"}
    server.current.ack(first, chatId="c1", messageId="m0", seq=1)
    elsewhere = await server.current.receive("read.mark")
    assert elsewhere["payload"]["chatId"] == "c2"  # not held back by c1's interval
    server.current.ack(elsewhere, chatId="c2", messageId="x1", seq=1)
    await clock.advance(0.9)
    assert server.current.unread("read.mark") == []
    await clock.advance(0.1)
    second = await server.current.receive("read.mark")
    assert second["payload"] == {"chatId": "c1", "messageId": "m4"}  # the latest one; m1-m3 coalesced
    server.current.ack(second, chatId="c1", messageId="m4", seq=5)
    results = [await m for m in marks]
    assert results[0]["messageId"] == "m0" and all(r["messageId"] == "m4" for r in results[1:])
    await other
    assert len(server.current.sent_of_type("read.mark")) == 3


async def test_presence_subscriptions_are_renewed_before_they_lapse(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    await client.connect()
    subscribing = asyncio.create_task(client.subscribe_presence(["bob", "carol", "bob"]))
    frame = await server.current.receive("presence.subscribe")
    assert frame["payload"] == {"userIds": ["bob", "carol"]}
    server.current.ack(frame)
    await subscribing
    await clock.advance(5 * 60)
    renewal = await server.current.receive("presence.subscribe")
    assert renewal["payload"] == {"userIds": ["bob", "carol"]}
    server.current.ack(renewal)
    unsubscribing = asyncio.create_task(client.unsubscribe_presence(["carol"]))
    frame = await server.current.receive("presence.unsubscribe")
    server.current.ack(frame)
    await unsubscribing
    await clock.advance(5 * 60)
    renewal = await server.current.receive("presence.subscribe")
    assert renewal["payload"] == {"userIds": ["bob"]}


async def test_focus_status_and_subscriptions_are_restored_after_a_reconnect(
    make_client, server: FakeServer, clock: FakeClock
):
    client = make_client()
    await client.connect()
    for call in (client.focus("c1"), client.set_presence("dnd"), client.subscribe_presence(["bob"])):
        task = asyncio.create_task(call)
        await settle()
        server.current.ack(server.current.unread()[-1])
        await task
    server.current.drop()
    await clock.advance(1)
    connection = server.connections[1]
    focus = await connection.receive("chat.focus")
    assert focus["payload"] == {"chatId": "c1"}
    connection.ack(focus)
    status = await connection.receive("presence.update")
    assert status["payload"] == {"status": "dnd"}
    connection.ack(status)
    subscribe = await connection.receive("presence.subscribe")
    assert subscribe["payload"] == {"userIds": ["bob"]}


async def test_state_set_while_disconnected_is_sent_once_connected(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    await client.connect()
    server.unreachable()
    server.current.drop()
    await settle()
    assert await client.focus("c9") is None
    await clock.advance(1 + 2)
    focus = await server.connections[1].receive("chat.focus")
    assert focus["payload"] == {"chatId": "c9"}


async def test_suggest_is_debounced_300_ms(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    await client.connect()
    calls = []
    for text in ("b", "bu", "bud", "budg"):
        calls.append(asyncio.create_task(client.suggest(text)))
        await clock.advance(0.1)
    assert server.current.unread("search.suggest") == []
    await clock.advance(0.2)
    frame = await server.current.receive("search.suggest")
    assert frame["payload"] == {"query": "budg"}
    suggestions = [{"type": "message", "text": "budget"}]
    server.current.reply(frame, "search.suggestions", {"suggestions": suggestions})
    assert [await c for c in calls] == [suggestions] * 4
    assert len(server.current.sent_of_type("search.suggest")) == 1
    short = asyncio.create_task(client.suggest("b"))
    await clock.advance(0.3)
    assert await short == []  # under 2 characters: nothing to ask
    assert len(server.current.sent_of_type("search.suggest")) == 1


async def test_search_returns_results_or_raises(make_client, server: FakeServer):
    client = make_client()
    await client.connect()
    searching = asyncio.create_task(client.search("budget from:alice", scope="messages", limit=5))
    frame = await server.current.receive("search.query")
    assert frame["payload"] == {"query": "budget from:alice", "scope": "messages", "limit": 5}
    server.current.reply(frame, "search.results", {"results": [], "total": 0, "cursor": None})
    assert (await searching)["total"] == 0
    searching = asyncio.create_task(client.search("x"))
    frame = await server.current.receive("search.query")
    server.current.ack_error(frame, "UNAVAILABLE", "Search temporarily unavailable")
    with pytest.raises(UnavailableError):
        await searching


async def test_a_raw_client_neither_throttles_typing_nor_debounces_suggestions(server: FakeServer, clock: FakeClock):
    # Raw mode shows the server's own limits: every call is one frame, at once.
    client = TidingsClient("ws://x/ws", "t", raw=True, clock=clock, transport=server)
    await client.connect()
    assert [await client.typing("c1") for _ in range(3)] == [True, True, True]
    assert len(server.current.sent_of_type("typing.start")) == 3
    asking = asyncio.create_task(client.suggest("b"))  # under 2 characters: asked all the same
    frame = await server.current.receive("search.suggest")
    assert frame["payload"] == {"query": "b"}
    server.current.reply(frame, "search.suggestions", {"suggestions": []})
    assert await asking == []
    await client.close()


async def test_closing_sends_the_read_mark_its_interval_still_held_back(make_client, server: FakeServer):
    client = make_client()
    await client.connect()
    first = asyncio.create_task(client.mark_read("c1", "m0"))
    frame = await server.current.receive("read.mark")
    server.current.ack(frame, chatId="c1", messageId="m0", seq=1)
    await first
    held = asyncio.create_task(client.mark_read("c1", "m1"))  # within the 1 s interval: held back
    await settle()
    assert server.current.unread("read.mark") == []

    closing = asyncio.create_task(client.close())
    frame = await server.current.receive("read.mark")
    assert frame["payload"] == {"chatId": "c1", "messageId": "m1"}
    server.current.ack(frame, chatId="c1", messageId="m1", seq=2)
    await closing
    assert (await held)["messageId"] == "m1"
