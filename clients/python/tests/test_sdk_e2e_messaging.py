"""The SDK against a real `tidings dev`: messaging, retries, server-cut connections, the
outbox across a reconnect, gap fill and token renewal."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest

from tidings_client import Backoff, ConnectionState, HttpError, RestClient, TidingsClient, TokenRefresher, jwt_expiry
from tidings_client.transport import Connection, WebSocketTransport

pytestmark = pytest.mark.e2e


def contents(frames: list[dict[str, Any]], marker: str) -> list[str]:
    return [f["payload"]["message"]["content"] for f in frames if marker in (f["payload"]["message"]["content"] or "")]


async def test_two_users_send_and_receive(dev, until):
    async with dev.client("alice") as alice, dev.client("bob") as bob:
        received: list[dict[str, Any]] = []
        bob.on("message.new", received.append)
        assert alice.user_id == "alice" and alice.welcome["heartbeatIntervalMs"] == 30000
        stored = await alice.send("dm-alice-bob", "hi @bob")
        assert stored["senderId"] == "alice" and stored["mentions"] == ["bob"] and stored["seq"] >= 1
        await until(lambda: any(f["payload"]["message"]["messageId"] == stored["messageId"] for f in received))
        answer = await bob.send("dm-alice-bob", "hello alice", reply_to=stored["messageId"])
        assert answer["replyTo"] == stored["messageId"] and answer["seq"] > stored["seq"]


async def test_a_retry_with_the_same_id_is_one_message(dev, until):
    async with dev.client("alice") as alice, dev.client("bob") as bob:
        received: list[dict[str, Any]] = []
        bob.on("message.new", received.append)
        frame_id = str(uuid.uuid4())
        marker = f"once-{frame_id[:8]}"
        first = await alice.send("project-x", marker, id=frame_id)
        again = await alice.send("project-x", marker, id=frame_id)
        assert (again["messageId"], again["seq"]) == (first["messageId"], first["seq"])
        after = await alice.send("project-x", f"after {marker}")
        await until(lambda: any(f["payload"]["message"]["messageId"] == after["messageId"] for f in received))
        assert contents(received, marker) == [marker, f"after {marker}"]


async def test_a_connection_cut_by_the_server_reconnects_and_syncs_what_it_missed(dev, until):
    # A long first backoff step leaves bob's messages no connection to arrive on: only sync.
    async with (
        dev.client("alice", backoff=Backoff([3.0], jitter=False)) as alice,
        dev.client("bob") as bob,
    ):
        received: list[dict[str, Any]] = []
        alice.on("message.new", received.append)
        states: list[str] = []
        alice.on_state(lambda new, old: states.append(new.value))
        first = await bob.send("dm-alice-bob", "before the cut")
        await until(lambda: any(f["payload"]["seq"] == first["seq"] for f in received))
        old_connection = alice.connection_id
        dev.delete_connection(old_connection)
        await until(lambda: alice.state is ConnectionState.RECONNECTING)
        missed = [await bob.send("dm-alice-bob", f"missed {i}") for i in range(3)]
        await until(lambda: alice.state is ConnectionState.CONNECTED)
        await until(lambda: any(f["payload"]["seq"] == missed[-1]["seq"] for f in received))
        assert alice.connection_id != old_connection
        assert states[:2] == ["reconnecting", "connected"]
        assert contents(received, "missed") == ["missed 0", "missed 1", "missed 2"]
        synced = [f for f in alice.of_type("sync.response") for _ in f["payload"].get("chats", [])]
        assert synced, "the missed messages came through sync.request after the reconnect"
        seqs = [f["payload"]["seq"] for f in received]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))


async def test_sends_during_a_reconnect_go_out_in_order(dev, until):
    async with (
        dev.client("alice", backoff=Backoff([2.0], jitter=False)) as alice,
        dev.client("bob") as bob,
    ):
        received: list[dict[str, Any]] = []
        bob.on("message.new", received.append)
        dev.delete_connection(alice.connection_id)
        await until(lambda: alice.state is ConnectionState.RECONNECTING)
        sends = [asyncio.create_task(alice.send("project-x", f"queued {i}")) for i in range(5)]
        await asyncio.sleep(0.1)
        assert len(alice.pending_outbox()) == 5
        stored = await asyncio.gather(*sends)
        assert [m["content"] for m in stored] == [f"queued {i}" for i in range(5)]
        assert [m["seq"] for m in stored] == sorted(m["seq"] for m in stored)
        await until(lambda: len(contents(received, "queued")) == 5)
        assert contents(received, "queued") == [f"queued {i}" for i in range(5)]
        assert alice.pending_outbox() == []


class DroppingTransport(WebSocketTransport):
    """Loses the server frames `drop(frame_text)` picks: a gap the client must notice."""

    def __init__(self, drop) -> None:
        super().__init__()
        self.drop = drop
        self.dropped: list[str] = []

    async def connect(self, url: str, headers: dict[str, str], timeout: float) -> Connection:
        inner = await super().connect(url, headers, timeout)
        transport = self

        class Dropping:
            async def send(self, text: str) -> None:
                await inner.send(text)

            async def recv(self) -> str:
                while True:
                    text = await inner.recv()
                    if not transport.drop(text):
                        return text
                    transport.dropped.append(text)

            async def close(self, code: int = 1000, reason: str = "") -> None:
                await inner.close(code, reason)

        return Dropping()


async def test_a_lost_frame_is_filled_from_sync(dev, until):
    def lost(text: str) -> bool:
        frame = json.loads(text)
        return frame["type"] == "message.new" and frame["payload"]["message"]["content"] == "gap: lost in transit"

    transport = DroppingTransport(lost)
    async with dev.client("alice") as alice, dev.client("bob", transport=transport) as bob:
        received: list[dict[str, Any]] = []
        bob.on("message.new", received.append)
        first = await alice.send("general", "gap: first")
        await until(lambda: any(f["payload"]["seq"] == first["seq"] for f in received))
        await alice.send("general", "gap: lost in transit")
        await alice.send("general", "gap: after the loss")
        await until(lambda: len(contents(received, "gap:")) == 3)
        assert transport.dropped, "the frame was really lost"
        assert contents(received, "gap:") == ["gap: first", "gap: lost in transit", "gap: after the loss"]
        gap_fill = [f for f in bob.sent if '"sync.request"' in f and '"lastKnownSeq"' in f]
        assert gap_fill, "bob asked for the missing seq"


async def test_token_refresh_renews_the_connection_before_it_expires(dev, until):
    session = dev.session("bob")
    short = dev.token("bob", ttl=8)  # the server asks for a new token at once (< 70 s left)
    refresher = TokenRefresher(RestClient(dev.base_url), session["refreshToken"], token=session["token"])
    calls: list[int] = []

    async def get_token() -> str:
        calls.append(1)
        return short if len(calls) == 1 else await refresher()

    async with TidingsClient(dev.ws_url, get_token) as bob:
        connection_id = bob.connection_id
        await bob.wait_for("token.refresh", timeout=30)
        renewed = await bob.wait_for(
            lambda f: f["type"] == "ack" and "expiresAt" in f["payload"] and f["payload"]["status"] == "ok", timeout=30
        )
        assert renewed["payload"]["expiresAt"] > (await bob.wait_for("token.refresh"))["payload"]["expiresAt"]
        expiry = jwt_expiry(short)
        assert expiry is not None
        await asyncio.sleep(max(0.0, expiry - time.time()) + 2)  # past the first token's expiry
        assert bob.connection_id == connection_id and bob.state is ConnectionState.CONNECTED
        assert (await bob.send("dm-alice-bob", "still the same connection"))["senderId"] == "bob"
        assert not bob.of_type("error")


async def test_an_expired_token_reconnects_with_a_fresh_one(dev, until):
    session = dev.session("carol")
    short = dev.token("carol", ttl=8)
    # A margin of 2 s keeps the short token while it has more left: its renew changes nothing,
    # the server ends the connection at expiry, and the reconnect gets a refreshed token.
    refresher = TokenRefresher(RestClient(dev.base_url), session["refreshToken"], token=short, margin=2)
    async with TidingsClient(dev.ws_url, refresher, backoff=Backoff([0.2], jitter=False)) as carol:
        first_connection = carol.connection_id
        expired = await carol.wait_for("error", lambda f: f["payload"]["code"] == "UNAUTHORIZED", timeout=40)
        assert expired
        await until(lambda: carol.state is ConnectionState.CONNECTED and carol.connection_id != first_connection)
        assert refresher.refresh_token != session["refreshToken"]  # rotated by the refresh
        assert (await carol.send("project-x", "back with a fresh token"))["senderId"] == "carol"


async def test_a_sixth_connection_closes_the_oldest_for_good(dev, until):
    token = dev.token("dave")
    oldest = TidingsClient(dev.ws_url, token, backoff=Backoff([0.2], jitter=False))
    await oldest.connect()
    newer = [TidingsClient(dev.ws_url, token, raw=True) for _ in range(5)]
    try:
        for client in newer:
            await client.connect()
        await until(lambda: oldest.state is ConnectionState.CLOSED)
        assert oldest.closed_error is not None and oldest.closed_error.code == "CONNECTION_LIMIT"
        await asyncio.sleep(1)  # no reconnect would have taken a slot back
        assert all(client.state is ConnectionState.CONNECTED for client in newer)
    finally:
        for client in [oldest, *newer]:
            await client.close()


async def test_the_rest_helper_reads_chats_and_history_and_raises_http_errors(dev):
    async with dev.client("alice") as alice, dev.client("dave") as dave:
        sent = await alice.send("project-x", "for the history")
        chats = {chat["chatId"]: chat for chat in await alice.rest.chats()}
        assert chats["project-x"]["headSeq"] >= sent["seq"]
        page = await alice.rest.messages("project-x", limit=5)
        assert page["messages"][0]["messageId"] == sent["messageId"]  # newest first
        with pytest.raises(HttpError) as refused:
            await dave.rest.messages("project-x")  # dave is not a member
        assert (refused.value.status, refused.value.code) == (403, "FORBIDDEN")
        with pytest.raises(HttpError) as bad:
            await alice.rest.messages("project-x", limit=1000)
        assert bad.value.status == 400 and bad.value.code == "BAD_FRAME" and "limit" in bad.value.message
