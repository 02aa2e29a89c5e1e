"""Notifications end to end: toasts by level, preferences over REST, DND,
urgent messages and their hourly limit, and grouping.

These tests change users' preferences and count toasts, so they get a `tidings dev` of their
own instead of the session-wide one; each test restores the preferences it changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import Server, start_server, stop_server, wait_until
from tidings.notifications.toasts import GROUP_WINDOW_SECONDS

pytestmark = pytest.mark.e2e

# Toasts are posted right after the badge of the same message, so once the badge is here a
# missing toast is not merely late.
QUIET_SECONDS = 1.0


@pytest.fixture(scope="module")
def quiet_server() -> Iterator[Server]:
    process, server, _ = start_server(log_name="tidings-dev-notifications")
    yield server
    stop_server(process)


@asynccontextmanager
async def _preferences(server: Server, user: str, document: dict) -> AsyncIterator[None]:
    rest = server.rest(user)
    saved = await rest.fetch("PUT", "/api/prefs", document)
    assert saved.status == 200, saved.text
    try:
        yield
    finally:
        assert (await rest.fetch("PUT", "/api/prefs", {})).status == 200


async def _send(client, chat_id: str, content: str, priority: str = "normal") -> dict:
    ack = await client.request("message.send", {"chatId": chat_id, "content": content, "priority": priority})
    assert ack["payload"]["status"] == "ok", ack
    return ack["payload"]["message"]


def _about(message: dict, frame_type: str):
    return lambda f: f["type"] == frame_type and f["payload"].get("messageId", None) in (None, message["messageId"])


def _badge_for(chat_id: str):
    return lambda f: f["type"] == "notification.badge" and f["payload"]["chatId"] == chat_id


def _toasts_about(client, message: dict) -> list[dict]:
    return [
        t["payload"] for t in client.of_type("notification.toast") if t["payload"]["messageId"] == message["messageId"]
    ]


async def test_level_all_gives_an_online_recipient_the_badge_then_a_toast(quiet_server):
    alice, bob = await quiet_server.connect("alice", raw=True), await quiet_server.connect("bob", raw=True)
    try:
        message = await _send(alice, "dm-alice-bob", "Lunch at noon? " + "x" * 120)
        toast = await bob.wait_for(lambda f: f["type"] == "notification.toast")
        kinds = [f["type"] for f in bob.frames if f["type"].startswith("notification.")]
        assert kinds[:2] == ["notification.badge", "notification.toast"]
        assert toast["payload"] == {
            "id": toast["payload"]["id"],
            "title": "Alice",
            "body": ("Lunch at noon? " + "x" * 120)[:99] + "…",
            "chatId": "dm-alice-bob",
            "messageId": message["messageId"],
            "priority": "normal",
            "timestamp": message["createdAt"],
            "actions": ["reply", "markRead", "mute"],
            "count": 1,
        }
        assert len(toast["payload"]["body"]) == 100
        assert not alice.of_type("notification.toast"), "no toast for your own message"
    finally:
        await alice.close()
        await bob.close()


async def test_mentions_only_set_through_put_prefs_toasts_only_mentions(quiet_server):
    async with _preferences(quiet_server, "carol", {"chatOverrides": {"project-x": {"level": "mentions_only"}}}):
        alice, carol = await quiet_server.connect("alice", raw=True), await quiet_server.connect("carol", raw=True)
        try:
            plain = await _send(alice, "project-x", "status update, nothing for you")
            await carol.wait_for(_badge_for("project-x"))
            await asyncio.sleep(QUIET_SECONDS)
            assert not _toasts_about(carol, plain), "mentions_only: a plain message only counts"

            mention = await _send(alice, "project-x", "@carol can you review?")
            toast = await carol.wait_for(_about(mention, "notification.toast"))
            assert toast["payload"]["title"] == "Alice in Project X"
            chat = next(c for c in await quiet_server.rest("carol").chats() if c["chatId"] == "project-x")
            assert chat["mentionCount"] >= 1
        finally:
            await alice.close()
            await carol.close()


def _dnd_window_around_now() -> dict:
    now = datetime.now(UTC)
    clock = lambda moment: moment.strftime("%H:%M")  # noqa: E731
    return {"startTime": clock(now - timedelta(hours=1)), "endTime": clock(now + timedelta(hours=1)), "timezone": "UTC"}


async def test_scheduled_dnd_silences_toasts_but_not_badges_and_not_urgent_messages(quiet_server):
    async with _preferences(quiet_server, "erin", {"global": {"dndSchedule": _dnd_window_around_now()}}):
        carol, erin = await quiet_server.connect("carol", raw=True), await quiet_server.connect("erin", raw=True)
        try:
            normal = await _send(carol, "general", "weekly numbers are in")
            badge = await erin.wait_for(_badge_for("general"))
            assert badge["payload"]["unreadCount"] >= 1, "DND keeps the badge"
            await asyncio.sleep(QUIET_SECONDS)
            assert not _toasts_about(erin, normal), "DND skips the toast"

            urgent = await _send(carol, "general", "production is down", priority="urgent")
            toast = await erin.wait_for(_about(urgent, "notification.toast"))
            assert (toast["payload"]["priority"], toast["payload"]["body"]) == ("urgent", "production is down")
        finally:
            await carol.close()
            await erin.close()


async def test_the_fourth_urgent_message_in_an_hour_is_refused(quiet_server):
    dave = await quiet_server.connect("dave", raw=True)
    try:
        for n in range(3):
            await _send(dave, "general", f"urgent {n}", priority="urgent")
        ack = await dave.request("message.send", {"chatId": "general", "content": "one more", "priority": "urgent"})
        assert ack["payload"]["status"] == "error"
        assert ack["payload"]["error"]["code"] == "RATE_LIMITED"
        assert ack["payload"]["error"]["retryAfterMs"] > 0
        assert (await dave.request("message.send", {"chatId": "general", "content": "normal is fine"}))["payload"][
            "status"
        ] == "ok", "only urgent messages are limited"
    finally:
        await dave.close()


async def test_rapid_messages_of_one_chat_become_one_growing_toast(quiet_server):
    alice, bob = await quiet_server.connect("alice", raw=True), await quiet_server.connect("bob", raw=True)
    try:
        await asyncio.sleep(2.5)  # any group bob had open for project-x has closed
        # At once: the group is the messages stored within 2 s of the first, and a loaded machine
        # could stretch three sends made one after another past that.
        burst = list(await asyncio.gather(*(_send(alice, "project-x", f"burst {n}") for n in range(3))))
        # The group is decided by the stored `createdAt`s, not by when the test sent: three sends
        # at once can still be stored more than 2 s apart on a loaded machine (each may start a
        # worker of its own). Then the messages are toasted in more than one group, and the toasts
        # must still account for each message once.
        sent_at = sorted(datetime.fromisoformat(message["createdAt"]) for message in burst)
        one_group = sent_at[-1] - sent_at[0] < timedelta(seconds=GROUP_WINDOW_SECONDS)

        def counted() -> dict[str, dict]:
            """Each toast id's latest frame (a toast is replaced as it grows)."""
            toasts = [t["payload"] for t in bob.of_type("notification.toast") if t["payload"]["chatId"] == "project-x"]
            return {toast["id"]: toast for toast in toasts}

        await wait_until(lambda: sum(toast["count"] for toast in counted().values()) >= 3)
        toasts = counted()
        assert sum(toast["count"] for toast in toasts.values()) == 3, toasts
        assert {toast["messageId"] for toast in toasts.values()} <= {message["messageId"] for message in burst}
        # A group's toast is titled by the chat; a group of one (a split burst) by its sender too.
        assert all(
            toast["title"] == ("Project X" if toast["count"] > 1 else "Alice in Project X") for toast in toasts.values()
        )
        if one_group:
            assert len(toasts) == 1, "one toast, replaced as it grows"
            (last,) = toasts.values()
            assert last["body"] == "3 new messages in Project X"
        else:
            assert len(toasts) > 1, f"stored {sent_at[-1] - sent_at[0]} apart, the messages are not one group"
    finally:
        await alice.close()
        await bob.close()


async def test_dnd_set_through_presence_silences_toasts_but_not_badges_and_not_urgent_messages(quiet_server):
    bob, erin = await quiet_server.connect("bob", raw=True), await quiet_server.connect("erin", raw=True)
    try:
        ack = await erin.request("presence.update", {"status": "dnd"})
        assert ack["payload"]["status"] == "ok", ack
        normal = await _send(bob, "general", "are you around?")
        await erin.wait_for(lambda f: _badge_for("general")(f) and f["payload"]["unreadCount"] >= 1)
        await asyncio.sleep(QUIET_SECONDS)
        assert not _toasts_about(erin, normal), "presence dnd skips the toast"

        urgent = await _send(bob, "general", "need you now", priority="urgent")
        toast = await erin.wait_for(_about(urgent, "notification.toast"))
        assert toast["payload"]["priority"] == "urgent"
    finally:
        await bob.close()
        await erin.close()


def _new_of(message: dict):
    return lambda f: f["type"] == "message.new" and f["payload"]["message"]["messageId"] == message["messageId"]


async def test_a_version_2_connection_gets_badge_and_toast_inside_message_new_and_the_sdk_tells_them_apart(
    quiet_server,
):
    alice = await quiet_server.connect("alice", raw=True)
    wire = await quiet_server.connect("bob", raw=True)  # the frames as they come
    app = await quiet_server.connect("bob")  # the SDK, as an application uses it (hello: version 2)
    events: list[dict] = []
    for frame_type in ("message.new", "notification.badge", "notification.toast"):
        app.on(frame_type, events.append)
    try:
        welcome = await wire.request("hello", {"protocolVersion": 2, "client": "e2e/2.0"})
        assert (welcome["payload"]["protocolVersion"], welcome["payload"]["supportedVersions"]) == (2, [1, 2])
        mark = wire.mark()
        message = await _send(alice, "dm-alice-bob", "one frame for all of it?")

        new = await wire.wait_for(_new_of(message), after=mark)
        badge, toast = new["payload"]["badge"], new["payload"]["toast"]
        assert badge["chatId"] == "dm-alice-bob" and badge["unreadCount"] >= 1
        assert (toast["messageId"], toast["title"], toast["body"]) == (
            message["messageId"],
            "Alice",
            "one frame for all of it?",
        )
        await asyncio.sleep(QUIET_SECONDS)
        later = [f["type"] for f in wire.frames_after(mark)]
        assert later.count("message.new") == 1 and not [t for t in later if t.startswith("notification.")], (
            "one frame per connection: nothing separate follows"
        )

        # The SDK hands them on as version 1's events, after the message, and the message as before.
        await wait_until(lambda: any(e["type"] == "notification.toast" for e in events))
        about = [
            e
            for e in events
            if _new_of(message)(e)
            or e["payload"].get("messageId") == message["messageId"]
            or (e["type"] == "notification.badge" and e["payload"]["chatId"] == "dm-alice-bob")
        ]
        assert [e["type"] for e in about] == ["message.new", "notification.badge", "notification.toast"]
        assert "badge" not in about[0]["payload"] and "toast" not in about[0]["payload"]
        assert (about[1]["payload"], about[2]["payload"]) == (badge, toast)
    finally:
        await alice.close()
        await wire.close()
        await app.close()
