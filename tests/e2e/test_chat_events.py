"""Edit, react, delete, typing, read receipts and rate limits, end to end over real WebSockets."""

from __future__ import annotations

import asyncio
import time

import pytest

pytestmark = pytest.mark.e2e

QUIET_SECONDS = 1.0


def _is(frame_type: str, **fields):
    def match(frame):
        payload = frame.get("payload", {})
        return frame["type"] == frame_type and all(payload.get(k) == v for k, v in fields.items())

    return match


async def _send(client, chat_id: str, content: str) -> dict:
    ack = await client.request("message.send", {"chatId": chat_id, "content": content})
    assert ack["payload"]["status"] == "ok", ack
    return ack["payload"]["message"]


async def test_an_edit_reaches_the_others_and_a_non_senders_edit_is_forbidden(server):
    alice, bob = await server.connect("alice", raw=True), await server.connect("bob", raw=True)
    try:
        message = await _send(alice, "dm-alice-bob", "frist")
        ack = await alice.request("message.edit", {"messageId": message["messageId"], "content": "first"})
        assert ack["payload"]["status"] == "ok"
        assert ack["payload"]["seq"] > message["seq"]

        updated = await bob.wait_for(_is("message.updated", seq=ack["payload"]["seq"]))
        assert updated["payload"]["message"]["messageId"] == message["messageId"]
        assert updated["payload"]["message"]["content"] == "first"
        assert updated["payload"]["message"]["editedAt"]

        refused = await bob.request("message.edit", {"messageId": message["messageId"], "content": "mine now"})
        assert refused["payload"]["error"]["code"] == "FORBIDDEN"
    finally:
        await alice.close()
        await bob.close()


async def test_reactions_are_shared_and_a_duplicate_add_changes_nothing(server):
    alice, bob, carol = [await server.connect(user, raw=True) for user in ("alice", "bob", "carol")]
    try:
        message = await _send(alice, "project-x", "lunch?")
        first = await bob.request("message.react", {"messageId": message["messageId"], "emoji": "🍕", "action": "add"})
        assert first["payload"]["reactions"] == {"🍕": ["bob"]}
        reaction = await alice.wait_for(_is("message.reaction", seq=first["payload"]["seq"]))
        assert reaction["payload"]["reactions"] == {"🍕": ["bob"]}

        await carol.request("message.react", {"messageId": message["messageId"], "emoji": "🍕", "action": "add"})
        again = await bob.request("message.react", {"messageId": message["messageId"], "emoji": "🍕", "action": "add"})
        assert again["payload"]["status"] == "ok"
        assert again["payload"]["reactions"] == {"🍕": ["bob", "carol"]}

        removed = await bob.request(
            "message.react", {"messageId": message["messageId"], "emoji": "🍕", "action": "remove"}
        )
        latest = await alice.wait_for(_is("message.reaction", seq=removed["payload"]["seq"]))
        assert latest["payload"]["reactions"] == {"🍕": ["carol"]}
    finally:
        for client in (alice, bob, carol):
            await client.close()


async def test_a_delete_reaches_the_others_and_the_message_is_gone(server):
    alice, bob = await server.connect("alice", raw=True), await server.connect("bob", raw=True)
    try:
        message = await _send(bob, "project-x", "oops, wrong chat")
        ack = await alice.request("message.delete", {"messageId": message["messageId"]})  # alice is admin
        assert ack["payload"]["status"] == "ok"
        deleted = await bob.wait_for(_is("message.deleted", seq=ack["payload"]["seq"]))
        assert deleted["payload"]["messageId"] == message["messageId"]
        again = await bob.request("message.edit", {"messageId": message["messageId"], "content": "x"})
        assert again["payload"]["error"]["code"] == "NOT_FOUND"
    finally:
        await alice.close()
        await bob.close()


async def _warm_typing(alice, bob) -> None:
    """Warms the typing function's execution environments with a burst in another chat, until
    that typing has ended. A burst into a cold function is spread over the cold starts of the
    environments it starts (on Lambda too), which can put a second start past the 1/s limit."""
    for _ in range(5):
        assert await alice.typing("general")
    await bob.wait_for(_is("typing.indicator", userId="alice", chatId="general", active=False), timeout=30)


async def test_typing_goes_to_the_others_throttled_not_echoed_and_ends_by_itself(server):
    alice, bob = await server.connect("alice", raw=True), await server.connect("bob", raw=True)
    try:
        await _warm_typing(alice, bob)
        started = time.monotonic()
        for _ in range(5):  # a burst (a raw client does not throttle): only the first is forwarded
            assert await alice.typing("dm-alice-bob")
        on = await bob.wait_for(_is("typing.indicator", userId="alice", chatId="dm-alice-bob", active=True))
        assert on["payload"]["displayName"] == "Alice"

        off = await bob.wait_for(
            _is("typing.indicator", userId="alice", chatId="dm-alice-bob", active=False), timeout=10
        )
        assert off["payload"]["chatId"] == "dm-alice-bob"
        assert time.monotonic() - started < 7 + 2, "typing must end by itself within 7 s (plus slack)"

        indicators = [
            f
            for f in bob.of_type("typing.indicator")
            if (f["payload"]["userId"], f["payload"]["chatId"]) == ("alice", "dm-alice-bob")
        ]
        assert [f["payload"]["active"] for f in indicators] == [True, False], "the burst was throttled"
        assert not alice.of_type("typing.indicator"), "typing is never echoed to the typer"
        assert not [f for f in alice.frames if f.get("payload", {}).get("refId")], "typing frames get no reply"
    finally:
        await alice.close()
        await bob.close()


async def test_typing_stop_and_sending_a_message_end_typing(server):
    alice, bob = await server.connect("alice", raw=True), await server.connect("bob", raw=True)
    try:
        assert await alice.typing("dm-alice-bob")
        await bob.wait_for(_is("typing.indicator", userId="alice", active=True))
        await alice.stop_typing("dm-alice-bob")
        await bob.wait_for(_is("typing.indicator", userId="alice", active=False))

        await asyncio.sleep(1.1)  # past the 1/s typing limit
        mark = bob.mark()
        assert await alice.typing("dm-alice-bob")
        await bob.wait_for(_is("typing.indicator", userId="alice", active=True), after=mark)
        message = await _send(alice, "dm-alice-bob", "done typing")
        await bob.wait_for(
            lambda f: f["type"] == "message.new" and f["payload"]["message"]["messageId"] == message["messageId"],
            after=mark,
        )
        relevant = [
            (f["type"], f["payload"].get("active"))
            for f in bob.frames_after(mark)
            if f["type"] in ("typing.indicator", "message.new")
        ]
        assert relevant == [("typing.indicator", True), ("typing.indicator", False), ("message.new", None)]
    finally:
        await alice.close()
        await bob.close()


async def test_a_read_mark_sends_a_receipt_with_its_seq(server):
    alice, bob = await server.connect("alice", raw=True), await server.connect("bob", raw=True)
    try:
        message = await _send(alice, "dm-alice-bob", "did you read this?")
        ack = await bob.request("read.mark", {"chatId": "dm-alice-bob", "messageId": message["messageId"]})
        assert ack["payload"]["status"] == "ok"
        receipt = await alice.wait_for(_is("read.receipt", userId="bob", messageId=message["messageId"]))
        assert receipt["payload"]["seq"] == message["seq"]
        assert receipt["payload"]["chatId"] == "dm-alice-bob"
    finally:
        await alice.close()
        await bob.close()


async def test_sending_marks_the_chat_read_for_the_sender_without_a_receipt(server):
    alice, bob = await server.connect("alice", raw=True), await server.connect("bob", raw=True)
    try:
        question = await _send(alice, "dm-alice-bob", "lunch at noon?")
        await bob.wait_for(lambda f: f["type"] == "notification.badge" and f["payload"]["chatId"] == "dm-alice-bob")
        mark = bob.mark()

        answer = await _send(bob, "dm-alice-bob", "yes!")  # no read.mark: replying is reading
        cleared = await bob.wait_for(
            lambda f: f["type"] == "notification.badge" and f["payload"]["chatId"] == "dm-alice-bob", after=mark
        )
        assert (cleared["payload"]["unreadCount"], cleared["payload"]["mentionCount"]) == (0, 0)

        await alice.wait_for(
            lambda f: f["type"] == "message.new" and f["payload"]["message"]["messageId"] == answer["messageId"]
        )
        sync = await alice.request("sync.request", {"chatId": "dm-alice-bob", "lastKnownSeq": question["seq"]})
        assert sync["payload"]["readWatermarks"]["bob"] == answer["seq"], "bob has seen his own message"
        assert sync["payload"]["readWatermarks"]["alice"] >= question["seq"]
        await asyncio.sleep(QUIET_SECONDS + 1)  # past the receipts' batching window
        assert not [f for f in alice.of_type("read.receipt") if f["payload"]["userId"] == "bob"], (
            "the message.new already told alice; a send is no read.receipt"
        )
    finally:
        await alice.close()
        await bob.close()


# The per-user message limit under a burst from several connections is shown with a clock that does
# not move (tests/integration/test_websocket_handlers.py): over real sockets it would only show
# whether this machine outruns the bucket's refill.
