"""The SDK across a restart of `tidings dev` (kill it, start it again on the same port, with
fresh in-memory state): clients reconnect, reset the chats whose history the server lost,
send what waited in the outbox, and restore their presence subscriptions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tidings_client import ConnectionState

pytestmark = pytest.mark.e2e


async def test_a_runtime_restart_mid_session(dev, until):
    async with dev.client("alice") as alice, dev.client("bob") as bob:
        events: list[dict[str, Any]] = []
        bob.on("message.new", events.append)
        bob.on("reset", events.append)
        for i in range(3):
            await alice.send("project-x", f"before {i}")
        await until(lambda: len(events) == 3)
        before = bob.watermarks()["project-x"]
        await alice.subscribe_presence(["carol"])
        await alice.wait_for("presence.changed", lambda f: f["payload"]["userId"] == "carol")

        await asyncio.to_thread(dev.stop)
        await until(lambda: alice.state is ConnectionState.RECONNECTING and bob.state is ConnectionState.RECONNECTING)
        during = asyncio.create_task(alice.send("project-x", "sent while the server was down"))
        await asyncio.sleep(0.5)
        assert not during.done() and len(alice.pending_outbox()) == 1
        mark = alice.mark()
        await asyncio.to_thread(dev.start)

        stored = await asyncio.wait_for(during, 60)
        assert stored["seq"] < before  # the new server started its seqs again
        await until(
            lambda: any(
                e["type"] == "message.new" and e["payload"]["message"]["messageId"] == stored["messageId"]
                for e in events
            )
        )
        resets = [e for e in events if e["type"] == "reset"]
        assert [r["payload"]["reason"] for r in resets] == ["headSeqBehind"]
        assert resets[0]["payload"]["previousSeq"] == before
        after_reset = events[events.index(resets[0]) + 1 :]
        assert [e["payload"]["message"]["content"] for e in after_reset] == ["sent while the server was down"]
        # The new server knew nothing of alice's subscription: the client subscribed again.
        await alice.wait_for("presence.changed", lambda f: f["payload"]["userId"] == "carol", after=mark, timeout=30)
        assert alice.state is ConnectionState.CONNECTED and bob.state is ConnectionState.CONNECTED
        reply = await bob.send("project-x", "and the chat goes on")
        assert reply["seq"] > stored["seq"]
