"""Presence end to end over real WebSockets.

A dedicated `tidings dev` with a 2 s presence.update interval (so every manual status can be
seen without waiting 10 s between them), and one with a 2 s idle time for away. Each test uses
its own user ids (any user id gets a token), so the tests cannot see each other's changes.
Watchers are raw SDK clients (every `presence.changed`, in arrival order); users who only come
and go are normal ones, as an application connects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from tests.e2e.conftest import Server, start_server, stop_server
from tidings_client import ConnectionState, Frame, TidingsClient

pytestmark = pytest.mark.e2e

# How long a test listens to show that nothing arrives: more than the 2 s batching window plus
# the stream poll, so a frame that was going to come would have.
QUIET_SECONDS = 3.5
UPDATE_INTERVAL = 2


@pytest.fixture(scope="module")
def presence_server() -> Iterator[Server]:
    process, server, _ = start_server(
        "--presence-update-interval", str(UPDATE_INTERVAL), log_name="tidings-dev-presence"
    )
    yield server
    stop_server(process)


@pytest.fixture(scope="module")
def idle_server() -> Iterator[Server]:
    process, server, _ = start_server("--presence-idle-seconds", "2", log_name="tidings-dev-idle")
    yield server
    stop_server(process)


def changed(user_id: str, status: str | None = None) -> Callable[[Frame], bool]:
    def matches(frame: Frame) -> bool:
        if frame.get("type") != "presence.changed" or frame["payload"].get("userId") != user_id:
            return False
        return status is None or frame["payload"]["status"] == status

    return matches


def statuses(client: TidingsClient, user_id: str) -> list[str]:
    return [f["payload"]["status"] for f in client.frames if changed(user_id)(f)]


async def next_status(client: TidingsClient, user_id: str, seen_before: int) -> str:
    """The status of the first `presence.changed` for `user_id` after the first `seen_before`."""
    await client.wait_for(lambda _: len(statuses(client, user_id)) > seen_before)
    return statuses(client, user_id)[seen_before]


async def subscribe(client: TidingsClient, user_ids: list[str]) -> list[Frame]:
    """Subscribes; returns the snapshot frames, after checking the ack comes first."""
    ack = await client.request("presence.subscribe", {"userIds": user_ids})
    assert ack["type"] == "ack" and ack["payload"]["status"] == "ok", ack
    snapshot = [await client.wait_for(changed(user_id)) for user_id in user_ids]
    position = client.frames.index(ack)
    assert all(client.frames.index(frame) > position for frame in snapshot), "the ack comes before the snapshot"
    return snapshot


async def test_a_subscribe_snapshot_shows_offline_for_users_never_connected(presence_server):
    await presence_server.share_chat("snap-watcher", "snap-nobody", "snap-ghost")
    watcher = await presence_server.connect("snap-watcher", raw=True)
    try:
        snapshot = await subscribe(watcher, ["snap-nobody", "snap-ghost"])
        assert [f["payload"] for f in snapshot] == [
            {"userId": "snap-nobody", "status": "offline"},
            {"userId": "snap-ghost", "status": "offline"},
        ]
    finally:
        await watcher.close()


async def test_a_connect_is_seen_as_available_and_closing_the_last_session_as_offline_with_last_seen(
    presence_server,
):
    await presence_server.share_chat("life-watcher", "life-user", "life-latecomer")
    watcher = await presence_server.connect("life-watcher", raw=True)
    try:
        await subscribe(watcher, ["life-user"])
        user = await presence_server.connect("life-user")
        await watcher.wait_for(changed("life-user", "available"))
        await user.close()
        offline = await watcher.wait_for(lambda f: changed("life-user", "offline")(f) and "lastSeen" in f["payload"])
        assert offline["payload"]["lastSeen"].endswith("Z")
        assert statuses(watcher, "life-user") == ["offline", "available", "offline"]

        # The snapshot of a user who was here keeps the time they left.
        other = await presence_server.connect("life-latecomer", raw=True)
        try:
            snapshot = await subscribe(other, ["life-user"])
            assert snapshot[0]["payload"] == offline["payload"]
        finally:
            await other.close()
    finally:
        await watcher.close()


async def test_every_manual_status_propagates(presence_server):
    await presence_server.share_chat("manual-watcher", "manual-user")
    watcher = await presence_server.connect("manual-watcher", raw=True)
    await subscribe(watcher, ["manual-user"])
    user = await presence_server.connect("manual-user", raw=True)
    try:
        await watcher.wait_for(changed("manual-user", "available"))
        for status in ("dnd", "brb", "in_a_meeting", "away", "offline", "available"):
            seen = len(statuses(watcher, "manual-user"))
            ack = await user.request("presence.update", {"status": status})
            assert ack["payload"]["status"] == "ok", ack
            assert await next_status(watcher, "manual-user", seen) == status
            await asyncio.sleep(UPDATE_INTERVAL + 0.1)  # so the next one is not coalesced
        assert statuses(watcher, "manual-user")[-6:] == ["dnd", "brb", "in_a_meeting", "away", "offline", "available"]
    finally:
        await user.close()
        await watcher.close()


async def test_updates_within_the_interval_are_coalesced_and_the_last_one_wins(presence_server):
    await presence_server.share_chat("coalesce-watcher", "coalesce-user")
    watcher = await presence_server.connect("coalesce-watcher", raw=True)
    await subscribe(watcher, ["coalesce-user"])
    user = await presence_server.connect("coalesce-user", raw=True)
    try:
        await watcher.wait_for(changed("coalesce-user", "available"))
        acks = [await user.request("presence.update", {"status": s}) for s in ("dnd", "brb", "in_a_meeting")]
        assert [a["payload"]["status"] for a in acks] == ["ok", "ok", "ok"], "every update is acked"
        assert acks[0]["payload"]["coalesced"] is False
        assert acks[-1]["payload"]["coalesced"] is True
        await watcher.wait_for(changed("coalesce-user", "in_a_meeting"))
        await asyncio.sleep(QUIET_SECONDS)
        seen = statuses(watcher, "coalesce-user")
        assert seen[-1] == "in_a_meeting", seen
        assert "brb" not in seen, "an update replaced while it waited never takes effect"
    finally:
        await user.close()
        await watcher.close()


async def test_a_second_session_keeps_the_user_available_after_the_first_closes(presence_server):
    await presence_server.share_chat("multi-watcher", "multi-user")
    watcher = await presence_server.connect("multi-watcher", raw=True)
    try:
        await subscribe(watcher, ["multi-user"])
        phone = await presence_server.connect("multi-user")
        laptop = await presence_server.connect("multi-user")
        await watcher.wait_for(changed("multi-user", "available"))
        await phone.close()
        await asyncio.sleep(QUIET_SECONDS)
        assert statuses(watcher, "multi-user")[-1] == "available"
        assert "offline" not in statuses(watcher, "multi-user")[1:]
        await laptop.close()
        await watcher.wait_for(lambda f: changed("multi-user", "offline")(f) and "lastSeen" in f["payload"])
    finally:
        await watcher.close()


async def test_flapping_is_batched_and_settles_on_the_final_state(presence_server):
    await presence_server.share_chat("flap-watcher", "flap-user")
    watcher = await presence_server.connect("flap-watcher", raw=True)
    try:
        await subscribe(watcher, ["flap-user"])
        for _ in range(5):
            session = await presence_server.connect("flap-user")
            await session.close()
        final = await presence_server.connect("flap-user")
        try:
            await watcher.wait_for(changed("flap-user", "available"))
            await asyncio.sleep(QUIET_SECONDS)
            seen = statuses(watcher, "flap-user")
            assert seen[0] == "offline"  # the snapshot
            assert seen[-1] == "available", seen
            # 11 transitions happened; 2 s batches deliver only the state each window ended in.
            assert len(seen) - 1 <= 5, seen
        finally:
            await final.close()
        await watcher.wait_for(lambda f: changed("flap-user", "offline")(f) and "lastSeen" in f["payload"])
    finally:
        await watcher.close()


async def test_users_not_subscribed_to_produce_no_frames(presence_server):
    await presence_server.share_chat("quiet-watcher", "quiet-watched")
    watcher = await presence_server.connect("quiet-watcher", raw=True)
    try:
        await subscribe(watcher, ["quiet-watched"])
        stranger = await presence_server.connect("quiet-stranger", raw=True)
        await stranger.request("presence.update", {"status": "dnd"})
        await stranger.close()
        watched = await presence_server.connect("quiet-watched")  # the control: this one arrives
        await watcher.wait_for(changed("quiet-watched", "available"))
        await asyncio.sleep(QUIET_SECONDS)
        assert not [f for f in watcher.of_type("presence.changed") if f["payload"]["userId"] == "quiet-stranger"]
        await watched.close()
    finally:
        await watcher.close()


async def test_unsubscribe_stops_updates(presence_server):
    await presence_server.share_chat("unsub-watcher", "unsub-user")
    watcher = await presence_server.connect("unsub-watcher", raw=True)
    try:
        await subscribe(watcher, ["unsub-user"])
        user = await presence_server.connect("unsub-user", raw=True)
        await watcher.wait_for(changed("unsub-user", "available"))
        ack = await watcher.request("presence.unsubscribe", {"userIds": ["unsub-user"]})
        assert ack["payload"]["status"] == "ok"
        count = len(statuses(watcher, "unsub-user"))
        await user.request("presence.update", {"status": "brb"})
        await user.close()
        await asyncio.sleep(QUIET_SECONDS)
        assert len(statuses(watcher, "unsub-user")) == count
    finally:
        await watcher.close()


async def test_subscriptions_belong_to_the_user_and_reach_every_session(presence_server):
    await presence_server.share_chat("owner-watcher", "owner-user")
    desk = await presence_server.connect("owner-watcher", raw=True)
    phone = await presence_server.connect("owner-watcher", raw=True)
    try:
        await subscribe(desk, ["owner-user"])
        user = await presence_server.connect("owner-user")
        await phone.wait_for(changed("owner-user", "available"))
        await user.close()
    finally:
        await desk.close()
        await phone.close()


async def test_only_users_sharing_a_chat_may_be_watched_and_the_refusal_names_the_others(presence_server):
    await presence_server.share_chat("seen-watcher", "seen-friend")
    watcher = await presence_server.connect("seen-watcher", raw=True)
    try:
        refused = await watcher.request("presence.subscribe", {"userIds": ["seen-friend", "seen-stranger"]})
        error = refused["payload"]["error"]
        assert error["code"] == "FORBIDDEN" and error["message"].endswith(": seen-stranger"), error
        await asyncio.sleep(QUIET_SECONDS)
        assert watcher.of_type("presence.changed") == [], "nothing was subscribed"
        assert watcher.state is ConnectionState.CONNECTED
        await subscribe(watcher, ["seen-friend", "seen-watcher"])  # oneself needs no shared chat
    finally:
        await watcher.close()


async def test_more_than_100_users_or_an_unknown_status_is_a_bad_frame(presence_server):
    client = await presence_server.connect("bad-frames", raw=True)
    try:
        too_many = await client.request("presence.subscribe", {"userIds": [f"u{i}" for i in range(101)]})
        assert too_many["payload"]["error"]["code"] == "BAD_FRAME"
        unknown = await client.request("presence.update", {"status": "sleeping"})
        assert unknown["payload"]["error"]["code"] == "BAD_FRAME"
        assert client.state is ConnectionState.CONNECTED
    finally:
        await client.close()


async def test_sync_carries_the_presence_of_the_subscribed_users(presence_server):
    await presence_server.share_chat("sync-watcher", "sync-user", "sync-nobody")
    watcher = await presence_server.connect("sync-watcher", raw=True)
    await subscribe(watcher, ["sync-user", "sync-nobody"])
    user = await presence_server.connect("sync-user", raw=True)
    try:
        await user.request("presence.update", {"status": "dnd"})
        await watcher.wait_for(changed("sync-user", "dnd"))
        await watcher.close()
        watcher = await presence_server.connect("sync-watcher", raw=True)  # a reconnect: subscriptions stay
        response = await watcher.request("sync.request", {"chats": {}})
        assert sorted(response["payload"]["presence"], key=lambda p: p["userId"]) == [
            {"userId": "sync-nobody", "status": "offline"},
            {"userId": "sync-user", "status": "dnd"},
        ]
    finally:
        await user.close()
        await watcher.close()


async def test_away_after_the_idle_time_and_available_again_on_activity(idle_server):
    await idle_server.share_chat("idle-watcher", "dave")
    watcher = await idle_server.connect("idle-watcher", raw=True)
    await subscribe(watcher, ["dave"])
    user = await idle_server.connect("dave", raw=True)
    try:
        await watcher.wait_for(changed("dave", "away"))
        seen = len(statuses(watcher, "dave"))
        ack = await user.request("chat.focus", {"chatId": "general"})  # an activity frame
        assert ack["payload"]["status"] == "ok"
        assert await next_status(watcher, "dave", seen) == "available"
    finally:
        await user.close()
        await watcher.close()
