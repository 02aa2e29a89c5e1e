"""Badges end to end: unread and mention counts, focus, offline counts, read.mark on every session.

The session-wide server is shared with other tests, so counts are compared before and after.
"""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.e2e

QUIET_SECONDS = 1.5


async def _chat(server, user: str, chat_id: str) -> dict:
    response = await server.rest(user).fetch("GET", "/api/chats")
    assert response.status == 200
    return next(chat for chat in response.json() if chat["chatId"] == chat_id)


def _badge_for(chat_id: str):
    return lambda f: f["type"] == "notification.badge" and f["payload"]["chatId"] == chat_id


async def _send(client, chat_id: str, content: str) -> dict:
    ack = await client.request("message.send", {"chatId": chat_id, "content": content})
    assert ack["payload"]["status"] == "ok", ack
    return ack["payload"]["message"]


async def test_a_message_raises_the_recipients_badge_and_a_mention_its_mention_count(server):
    alice, bob = await server.connect("alice", raw=True), await server.connect("bob", raw=True)
    try:
        before = await _chat(server, "bob", "dm-alice-bob")
        await _send(alice, "dm-alice-bob", "plain")
        first = await bob.wait_for(_badge_for("dm-alice-bob"))
        assert first["payload"]["unreadCount"] == before["unreadCount"] + 1
        assert first["payload"]["mentionCount"] == before["mentionCount"]
        assert first["payload"]["totalUnreadCount"] >= first["payload"]["unreadCount"]

        mark = bob.mark()
        await _send(alice, "dm-alice-bob", "ping @bob")
        second = await bob.wait_for(_badge_for("dm-alice-bob"), after=mark)
        assert second["payload"]["unreadCount"] == before["unreadCount"] + 2
        assert second["payload"]["mentionCount"] == before["mentionCount"] + 1
        # Sending marks the chat read for the sender: any badge alice gets for it says 0.
        own = [f["payload"] for f in alice.of_type("notification.badge") if f["payload"]["chatId"] == "dm-alice-bob"]
        assert all(badge["unreadCount"] == 0 for badge in own), "a sender's own message is never unread"
    finally:
        await alice.close()
        await bob.close()


async def test_a_focused_chat_gets_no_unread_growth(server):
    alice, bob = await server.connect("alice", raw=True), await server.connect("bob", raw=True)
    try:
        ack = await bob.request("chat.focus", {"chatId": "dm-alice-bob"})
        assert ack["payload"]["status"] == "ok"
        before = await _chat(server, "bob", "dm-alice-bob")
        message = await _send(alice, "dm-alice-bob", "you are looking at this")
        await bob.wait_for(
            lambda f: f["type"] == "message.new" and f["payload"]["message"]["messageId"] == message["messageId"]
        )
        await asyncio.sleep(QUIET_SECONDS)
        assert not [f for f in bob.frames if _badge_for("dm-alice-bob")(f)]
        assert not bob.of_type("notification.toast"), "a focused chat gets no toast"
        assert (await _chat(server, "bob", "dm-alice-bob"))["unreadCount"] == before["unreadCount"]
    finally:
        await alice.close()
        await bob.close()


async def test_an_offline_users_counts_wait_in_the_chat_list(server):
    alice = await server.connect("alice", raw=True)
    try:
        before = await _chat(server, "carol", "project-x")
        await _send(alice, "project-x", "carol is offline")
        await _send(alice, "project-x", "still offline, @carol")
        for _ in range(60):
            after = await _chat(server, "carol", "project-x")
            if after["unreadCount"] == before["unreadCount"] + 2:
                break
            await asyncio.sleep(0.25)
        assert after["unreadCount"] == before["unreadCount"] + 2
        assert after["mentionCount"] == before["mentionCount"] + 1
    finally:
        await alice.close()


async def test_read_mark_clears_the_badge_on_a_second_session(server):
    alice = await server.connect("alice", raw=True)
    phone, laptop = await server.connect("dave", raw=True), await server.connect("dave", raw=True)
    try:
        message = await _send(alice, "general", "news for everyone")
        await laptop.wait_for(lambda f: _badge_for("general")(f) and f["payload"]["unreadCount"] > 0)
        mark = laptop.mark()
        ack = await phone.request("read.mark", {"chatId": "general", "messageId": message["messageId"]})
        assert ack["payload"]["status"] == "ok"
        cleared = await laptop.wait_for(_badge_for("general"), after=mark)
        assert cleared["payload"]["unreadCount"] == 0
        assert cleared["payload"]["mentionCount"] == 0
        assert (await _chat(server, "dave", "general"))["unreadCount"] == 0
    finally:
        for client in (alice, phone, laptop):
            await client.close()


async def _carol_reaches(server, unread: int) -> dict:
    for _ in range(60):
        chat = await _chat(server, "carol", "project-x")
        if chat["unreadCount"] == unread:
            break
        await asyncio.sleep(0.25)
    return chat


async def test_a_deleted_message_stops_counting_in_the_badges_and_the_chat_list(server):
    alice, bob = await server.connect("alice", raw=True), await server.connect("bob", raw=True)
    try:
        bob_before = await _chat(server, "bob", "project-x")
        carol_before = await _chat(server, "carol", "project-x")  # offline: her counts wait in storage
        message = await _send(alice, "project-x", "wrong chat, sorry @bob @carol")
        raised = await bob.wait_for(
            lambda f: _badge_for("project-x")(f) and f["payload"]["unreadCount"] == bob_before["unreadCount"] + 1
        )
        assert raised["payload"]["mentionCount"] == bob_before["mentionCount"] + 1
        assert (await _carol_reaches(server, carol_before["unreadCount"] + 1))["mentionCount"] == (
            carol_before["mentionCount"] + 1
        )
        mark = bob.mark()

        ack = await alice.request("message.delete", {"messageId": message["messageId"]})
        assert ack["payload"]["status"] == "ok"
        lowered = await bob.wait_for(_badge_for("project-x"), after=mark)
        assert lowered["payload"]["unreadCount"] == bob_before["unreadCount"]
        assert lowered["payload"]["mentionCount"] == bob_before["mentionCount"]
        assert lowered["payload"]["totalUnreadCount"] == raised["payload"]["totalUnreadCount"] - 1
        assert lowered["payload"]["totalMentionCount"] == raised["payload"]["totalMentionCount"] - 1
        assert (await _chat(server, "bob", "project-x"))["unreadCount"] == bob_before["unreadCount"]

        carol_after = await _carol_reaches(server, carol_before["unreadCount"])
        assert (carol_after["unreadCount"], carol_after["mentionCount"]) == (
            carol_before["unreadCount"],
            carol_before["mentionCount"],
        )
    finally:
        await alice.close()
        await bob.close()
