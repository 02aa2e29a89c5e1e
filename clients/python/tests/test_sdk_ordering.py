"""Chat events reach handlers in seq order, once: reordering, duplicates, gap fill, listen-then-
sync on reconnect, cursors, tooLarge refetch, and a server whose headSeq went backwards."""

from __future__ import annotations

import asyncio
from typing import Any

from tidings_client import TidingsClient
from tidings_client.sequencer import Sequencer
from tidings_client.testing import FakeClock, FakeServer, message, message_new, settle


def seqs(frames: list[dict]) -> list[int]:
    return [f["payload"]["seq"] for f in frames]


def collect(client: TidingsClient, *types: str) -> list[dict]:
    seen: list[dict] = []
    for frame_type in types or ("message.new",):
        client.on(frame_type, seen.append)
    return seen


# --- the sequencer on its own -------------------------------------------------------------------


def test_frames_that_overtook_a_missing_one_wait_for_it():
    sequencer = Sequencer()
    assert seqs(sequencer.live(message_new("c", 1))) == [1]  # a chat starts at its first event
    assert sequencer.live(message_new("c", 3)) == []
    assert sequencer.live(message_new("c", 4)) == []
    assert sequencer.has_gap("c")
    assert seqs(sequencer.live(message_new("c", 2))) == [2, 3, 4]
    assert not sequencer.has_gap("c")
    assert sequencer.watermarks() == {"c": 4}


def test_duplicates_are_dropped_by_seq_and_by_message_id():
    sequencer = Sequencer()
    sequencer.track("c", 0)
    assert seqs(sequencer.live(message_new("c", 1, message_id="m1"))) == [1]
    assert sequencer.live(message_new("c", 1, message_id="m1")) == []
    # The same message under a later seq (never sent by the server, but harmless): no event,
    # and the seq still counts, so nothing waits on it.
    assert sequencer.live(message_new("c", 2, message_id="m1")) == []
    assert seqs(sequencer.live(message_new("c", 3))) == [3]


def test_seqs_a_sync_did_not_return_are_holes_once_skipped():
    sequencer = Sequencer()
    sequencer.track("c", 10)
    sequencer.begin_sync(["c"])
    assert sequencer.live(message_new("c", 14)) == []  # held while syncing
    outcome = sequencer.apply_sync(
        {"chatId": "c", "events": [message_new("c", 12)], "hasMore": False, "cursor": None, "headSeq": 13}
    )
    assert outcome.deliver == []  # 11 may still be on its way
    assert sequencer.has_gap("c")
    # After the wait: 11 and 13 were holes; 12 from sync, then the held 14.
    assert seqs(sequencer.skip_holes("c")) == [12, 14]
    assert sequencer.watermarks() == {"c": 14}
    assert not sequencer.has_gap("c")
    # A frame for a seq passed as a hole is delivered after all (late beats lost), once.
    assert seqs(sequencer.live(message_new("c", 11))) == [11]
    assert sequencer.live(message_new("c", 11)) == []
    assert sequencer.live(message_new("c", 12)) == []


def test_an_event_counted_in_head_seq_but_still_being_written_arrives_live_in_order():
    # The server reads headSeq before the events: an event whose seq is allocated but whose
    # item is not written yet is in headSeq, not in the events, and comes by fan-out.
    sequencer = Sequencer()
    sequencer.track("c", 3)
    sequencer.begin_sync(["c"])
    outcome = sequencer.apply_sync({"chatId": "c", "events": [], "hasMore": False, "cursor": None, "headSeq": 4})
    assert outcome.deliver == []
    assert seqs(sequencer.live(message_new("c", 4))) == [4]
    assert seqs(sequencer.live(message_new("c", 5))) == [5]


def test_other_frames_with_a_seq_are_not_chat_events():
    sequencer = Sequencer()
    receipt = {"type": "read.receipt", "payload": {"chatId": "c", "userId": "bob", "messageId": "m", "seq": 50}}
    assert sequencer.live(receipt) == [receipt]
    assert sequencer.watermarks() == {}


# --- the client -----------------------------------------------------------------------------------


async def test_handlers_get_chat_events_in_seq_order_exactly_once(make_client, server: FakeServer):
    client = make_client()
    seen = collect(client, "message.new", "message.updated")
    await client.connect()
    for seq in (1, 3, 2, 2, 5, 4):
        server.current.push_frame(message_new("c", seq))
    edit = {"chatId": "c", "seq": 6, "message": message("c", 1, "edited")}
    server.current.push("message.updated", edit)
    await settle()
    assert seqs(seen) == [1, 2, 3, 4, 5, 6]


async def test_handlers_get_the_frames_envelope_as_the_server_sent_it_trace_id_included(
    make_client, server: FakeServer
):
    client = make_client()
    seen = collect(client)
    await client.connect()
    for seq in (1, 3, 2):  # 3 waits for 2: a frame held for a gap keeps its envelope too
        server.current.push_frame({**message_new("c", seq), "traceId": f"trace-of-{seq}"})
    await settle()
    assert [(f["payload"]["seq"], f["traceId"]) for f in seen] == [(n, f"trace-of-{n}") for n in (1, 2, 3)]


async def test_a_gap_is_filled_with_sync_request(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    seen = collect(client)
    await client.connect()
    server.current.push_frame(message_new("c", 1))
    server.current.push_frame(message_new("c", 3))
    await clock.advance(0.9)
    assert server.current.unread("sync.request") == []  # the missing frame may only be late
    await clock.advance(0.1)
    request = await server.current.receive("sync.request")
    assert request["payload"] == {"chatId": "c", "lastKnownSeq": 1}
    response = {"chatId": "c", "events": [message_new("c", 2), message_new("c", 3)], "hasMore": False}
    server.current.reply(request, "sync.response", {**response, "cursor": None, "headSeq": 3, "readWatermarks": {}})
    await settle()
    assert seqs(seen) == [1, 2, 3]


async def test_a_late_frame_closes_the_gap_without_a_sync(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    seen = collect(client)
    await client.connect()
    for seq in (1, 3, 2):
        server.current.push_frame(message_new("c", seq))
    await clock.advance(5)
    assert server.current.unread("sync.request") == []
    assert seqs(seen) == [1, 2, 3]


async def test_reconnect_listens_first_then_syncs_every_chat(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    seen = collect(client, "message.new", "notification.badge", "presence.changed")
    synced = collect(client, "synced")
    await client.connect()
    server.current.push_frame(message_new("a", 1))
    server.current.push_frame(message_new("b", 7))
    await settle()
    client.track("c", 40)
    server.current.drop()
    await clock.advance(1)
    connection = server.connections[1]
    request = await connection.receive("sync.request")
    assert request["payload"] == {"chats": {"a": 1, "b": 7, "c": 40}}
    connection.push_frame(message_new("a", 3))  # live, while the sync runs: held
    await settle()
    assert seqs([f for f in seen if f["type"] == "message.new"]) == [1, 7]
    chats = [
        {
            "chatId": "a",
            "events": [message_new("a", 2), message_new("a", 3)],
            "hasMore": False,
            "cursor": None,
            "headSeq": 3,
        },
        {"chatId": "b", "events": [], "hasMore": False, "cursor": None, "headSeq": 7},
        {"chatId": "c", "events": [message_new("c", 41)], "hasMore": True, "cursor": "next-c", "headSeq": 45},
    ]
    badge = {"chatId": "a", "unreadCount": 2, "mentionCount": 0, "totalUnreadCount": 2, "totalMentionCount": 0}
    presence = {"userId": "bob", "status": "dnd"}
    connection.reply(request, "sync.response", {"chats": chats, "badges": [badge], "presence": [presence]})
    more = await connection.receive("sync.request")
    assert more["payload"] == {"chats": {"c": "next-c"}}
    rest = {"chatId": "c", "events": [message_new("c", 44)], "hasMore": False, "cursor": None, "headSeq": 45}
    connection.reply(more, "sync.response", {"chats": [rest], "badges": [], "presence": []})
    await settle()
    assert ("c", 44) not in [(f["payload"].get("chatId"), f["payload"].get("seq")) for f in seen]
    await clock.advance(1)  # 42 and 43 did not come: holes
    events = [(f["payload"]["chatId"], f["payload"]["seq"]) for f in seen if f["type"] == "message.new"]
    assert events == [("a", 1), ("b", 7), ("a", 2), ("a", 3), ("c", 41), ("c", 44)]
    assert [f["payload"] for f in seen if f["type"] == "notification.badge"] == [badge]
    assert [f["payload"] for f in seen if f["type"] == "presence.changed"] == [presence]
    assert client.watermarks() == {"a": 3, "b": 7, "c": 45}
    assert [f["payload"]["chatId"] for f in synced] == ["a", "b", "c"]


async def test_too_large_refetches_over_rest(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    fetched: list[tuple[str, Any]] = []

    class FakeRest:
        async def messages(self, chat_id: str, *, before=None, limit=None):
            fetched.append((chat_id, limit))
            return {"messages": [message(chat_id, 900), message(chat_id, 899)], "nextBefore": 899}

    client._rest = FakeRest()
    seen = collect(client, "message.new", "reset")
    client.track("c", 10)
    await client.connect()
    request = await server.current.receive("sync.request")
    server.current.reply(request, "sync.response", {"chats": [{"chatId": "c", "tooLarge": True, "headSeq": 900}]})
    await settle()
    assert fetched == [("c", 50)]
    reset = [f for f in seen if f["type"] == "reset"]
    assert reset[0]["payload"]["reason"] == "tooLarge"
    assert [m["seq"] for m in reset[0]["payload"]["messages"]] == [899, 900]  # oldest first
    server.current.push_frame(message_new("c", 900))  # a duplicate of what REST gave
    server.current.push_frame(message_new("c", 901))
    await settle()
    assert seqs([f for f in seen if f["type"] == "message.new"]) == [901]


async def test_a_head_seq_that_went_backwards_resets_the_chat(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    seen = collect(client, "message.new", "reset")
    client.track("c", 50)
    await client.connect()
    request = await server.current.receive("sync.request")
    # A restarted local runtime without its data: the chat now has 2 events.
    entry = {"chatId": "c", "events": [], "hasMore": False, "cursor": None, "headSeq": 2}
    server.current.reply(request, "sync.response", {"chats": [entry]})
    again = await server.current.receive("sync.request")
    assert again["payload"] == {"chats": {"c": 0}}
    events = [message_new("c", 1, message_id="new-1"), message_new("c", 2, message_id="new-2")]
    server.current.reply(
        again,
        "sync.response",
        {"chats": [{"chatId": "c", "events": events, "hasMore": False, "cursor": None, "headSeq": 2}]},
    )
    await settle()
    assert [f["type"] for f in seen] == ["reset", "message.new", "message.new"]
    assert seen[0]["payload"] == {"chatId": "c", "reason": "headSeqBehind", "headSeq": 2, "previousSeq": 50}
    assert client.watermarks() == {"c": 2}


async def test_own_acked_messages_are_events_in_order_and_the_echo_is_dropped(make_client, server: FakeServer):
    client = make_client()
    seen = collect(client)
    await client.connect()
    server.current.push_frame(message_new("c", 1))
    await settle()
    sending = asyncio.create_task(client.send("c", "mine"))
    frame = await server.current.receive("message.send")
    mine = message("c", 2, "mine", sender="alice", message_id="mine-1")
    server.current.ack(frame, message=mine)
    await sending
    server.current.push("message.new", {"chatId": "c", "seq": 2, "message": mine})  # the echo
    server.current.push_frame(message_new("c", 3))
    await settle()
    assert seqs(seen) == [1, 2, 3]
    assert seen[1]["payload"]["message"]["messageId"] == "mine-1"


async def test_a_removed_chat_is_forgotten(make_client, server: FakeServer):
    client = make_client()
    seen = collect(client, "reset")
    client.track("gone", 3)
    await client.connect()
    request = await server.current.receive("sync.request")
    error = {"code": "FORBIDDEN", "message": "not a member"}
    server.current.reply(request, "sync.response", {"chats": [{"chatId": "gone", "error": error}]})
    await settle()
    assert seen[0]["payload"] == {"chatId": "gone", "reason": "forbidden", "error": error}
    assert client.watermarks() == {}
    client.track("other", 5)
    client.untrack("other")
    assert client.watermarks() == {}


async def test_sync_catches_up_on_demand(make_client, server: FakeServer):
    client = make_client()
    seen = collect(client)
    await client.connect()
    syncing = asyncio.create_task(client.sync("c"))
    request = await server.current.receive("sync.request")
    assert request["payload"] == {"chats": {"c": 0}}
    entry = {"chatId": "c", "events": [message_new("c", 1)], "hasMore": False, "cursor": None, "headSeq": 1}
    server.current.reply(request, "sync.response", {"chats": [entry]})
    await syncing
    await settle()
    assert seqs(seen) == [1]


async def test_unknown_frame_types_still_reach_handlers(make_client, server: FakeServer):
    client = make_client()
    specific, every = [], []
    client.on("feature.from.the.future", specific.append)
    unsubscribe = client.on("*", every.append)
    await client.connect()
    server.current.push("feature.from.the.future", {"x": 1})
    await settle()
    unsubscribe()
    server.current.push("feature.from.the.future", {"x": 2})
    await settle()
    assert [f["payload"]["x"] for f in specific] == [1, 2]
    assert [f["payload"].get("x") for f in every if f["type"] == "feature.from.the.future"] == [1]


async def test_async_handlers_run_one_frame_at_a_time_and_may_call_the_client(make_client, server: FakeServer):
    client = make_client()
    order: list[str] = []

    async def reply_to(frame: dict) -> None:
        order.append(f"start {frame['payload']['seq']}")
        await client.send("c", f"re {frame['payload']['seq']}")  # waits for an ack the reader must read
        order.append(f"end {frame['payload']['seq']}")

    client.on("message.new", reply_to)
    await client.connect()
    server.current.push_frame(message_new("c", 1, sender="bob"))
    server.current.push_frame(message_new("c", 2, sender="bob"))
    frame = await server.current.receive("message.send")
    server.current.ack(frame, message=message("c", 3, "re 1", sender="alice"))
    frame = await server.current.receive("message.send")
    server.current.ack(frame, message=message("c", 4, "re 2", sender="alice"))
    await settle()
    assert order[:4] == ["start 1", "end 1", "start 2", "end 2"]


async def test_a_big_chats_partial_watermarks_and_read_summary_reach_synced(
    make_client, server: FakeServer, clock: FakeClock
):
    client = make_client()
    synced = collect(client, "synced")
    await client.connect()
    server.current.push_frame(message_new("c", 1))
    server.current.push_frame(message_new("c", 3))
    await clock.advance(1)
    request = await server.current.receive("sync.request")
    summary = {"members": 1200, "readToHead": 340}
    response = {"chatId": "c", "events": [message_new("c", 2)], "hasMore": False, "cursor": None, "headSeq": 3}
    server.current.reply(
        request, "sync.response", {**response, "readWatermarks": {"me": 1, "bob": 3}, "readSummary": summary}
    )
    await settle()
    assert [f["payload"] for f in synced] == [
        {"chatId": "c", "headSeq": 3, "readWatermarks": {"me": 1, "bob": 3}, "readSummary": summary}
    ]


async def test_a_chat_summary_syncs_the_tracked_chat_up_to_its_last_seq(make_client, server: FakeServer):
    client = make_client()
    seen, summaries = collect(client), collect(client, "chat.summary")
    await client.connect()
    server.current.push_frame(message_new("town-hall", 1))
    await settle()
    server.current.push("chat.summary", {"chatId": "town-hall", "newMessages": 2, "lastSeq": 3})
    request = await server.current.receive("sync.request")  # at once: no gap timer to wait for
    assert request["payload"] == {"chatId": "town-hall", "lastKnownSeq": 1}
    events = [message_new("town-hall", 2), message_new("town-hall", 3)]
    response = {"chatId": "town-hall", "events": events, "hasMore": False, "cursor": None, "headSeq": 3}
    server.current.reply(request, "sync.response", {**response, "readWatermarks": {}})
    await settle()
    assert seqs(seen) == [1, 2, 3]
    assert [f["payload"]["newMessages"] for f in summaries] == [2]  # the app sees it too
    # A summary of what the client has already, or of a chat it does not track, syncs nothing.
    server.current.push("chat.summary", {"chatId": "town-hall", "newMessages": 2, "lastSeq": 3})
    server.current.push("chat.summary", {"chatId": "elsewhere", "newMessages": 9, "lastSeq": 9})
    await settle()
    assert server.current.unread("sync.request") == []
