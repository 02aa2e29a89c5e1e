"""Chats and members end to end: the REST calls through the SDK's `RestClient` against `tidings
dev`, the frames they cause over real WebSockets, one DM per pair when both open it at once, and
the cut-off: from the answer to a removal on, the removed member gets no frame of the chat and
cannot send, sync, read its history or find its messages.

The session's server is shared with the other e2e modules: every test makes chats of its own."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tidings_client import HttpError, TidingsClient
from tidings_client.frames import encode, make_frame

pytestmark = pytest.mark.e2e

QUIET_SECONDS = 1.5
SEARCH_CEILING_SECONDS = 30.0


def _is(frame_type: str, **fields: Any):
    def match(frame: dict) -> bool:
        payload = frame.get("payload", {})
        return frame["type"] == frame_type and all(payload.get(k) == v for k, v in fields.items())

    return match


def _word() -> str:
    return f"zm{uuid.uuid4().hex[:10]}"


async def _send(client: TidingsClient, chat_id: str, content: str) -> dict:
    ack = await client.request("message.send", {"chatId": chat_id, "content": content})
    assert ack["payload"]["status"] == "ok", ack
    return ack["payload"]["message"]


async def _clients(server, *users: str) -> list[TidingsClient]:
    return [await server.connect(user, raw=True) for user in users]


async def _close(*clients: TidingsClient) -> None:
    for client in clients:
        await client.close()


async def test_every_call_and_its_frames(server):
    alice, bob, carol = await _clients(server, "alice", "bob", "carol")
    rest = server.rest("alice")
    try:
        chat = await rest.create_chat("group", "Launch", ["bob"], description="go")
        chat_id = chat["chatId"]
        assert {m["userId"]: m["role"] for m in chat["members"]} == {"alice": "admin", "bob": "member"}
        added = await bob.wait_for(_is("chat.added"))
        assert added["payload"]["chat"]["chatId"] == chat_id

        await rest.update_chat(chat_id, name="Launch day")
        updated = await bob.wait_for(_is("chat.updated", chatId=chat_id))
        assert updated["payload"]["chat"]["name"] == "Launch day"

        assert await rest.add_member(chat_id, "carol") == {"chatId": chat_id, "userId": "carol", "role": "member"}
        joined = await bob.wait_for(_is("member.joined", chatId=chat_id, userId="carol"))
        assert joined["payload"]["seq"] > updated["payload"]["seq"]
        carol_added = await carol.wait_for(_is("chat.added"))
        assert carol_added["payload"]["chat"]["chatId"] == chat_id
        assert carol_added["payload"]["chat"]["headSeq"] == joined["payload"]["seq"]

        await rest.add_member(chat_id, "bob", role="admin")
        await carol.wait_for(_is("member.joined", chatId=chat_id, userId="bob", role="admin"))

        # A chat admin deletes anyone's message.
        message = await _send(carol, chat_id, "oops")
        ack = await bob.request("message.delete", {"messageId": message["messageId"]})
        assert ack["payload"]["status"] == "ok"

        await server.rest("carol").remove_member(chat_id, "carol")  # carol leaves
        left = await alice.wait_for(_is("member.left", chatId=chat_id, userId="carol"))
        assert left["payload"]["seq"] > joined["payload"]["seq"]
        await carol.wait_for(_is("chat.removed", chatId=chat_id))

        # The events are replayed by sync, in seq order.
        reply = await bob.request("sync.request", {"chatId": chat_id, "lastKnownSeq": 0})
        kinds = [event["type"] for event in reply["payload"]["events"]]
        assert kinds == [
            "chat.updated",
            "member.joined",
            "member.joined",
            "message.new",
            "message.deleted",
            "member.left",
        ]
    finally:
        await _close(alice, bob, carol)


async def test_the_last_admin_cannot_leave_and_an_archived_chat_takes_no_messages(server):
    rest = server.rest("dave")
    chat = await rest.create_chat("group", "Archive me", ["erin"])
    with pytest.raises(HttpError) as refused:
        await rest.remove_member(chat["chatId"], "dave")
    assert (refused.value.status, refused.value.code) == (409, "CONFLICT")
    erin = await server.connect("erin", raw=True)
    try:
        await _send(erin, chat["chatId"], "before")
        assert (await rest.update_chat(chat["chatId"], archived=True))["archived"] is True
        ack = await erin.request("message.send", {"chatId": chat["chatId"], "content": "after"})
        assert ack["payload"]["error"]["code"] == "FORBIDDEN"
        history = await server.rest("erin").messages(chat["chatId"])
        assert [m["content"] for m in history["messages"]] == ["before"]
    finally:
        await erin.close()


async def test_a_public_channel_is_listed_and_anyone_joins_it(server):
    name = f"open-{uuid.uuid4().hex[:8]}"
    channel = await server.rest("alice").create_chat("channel", name)
    await server.rest("alice").create_chat("channel", f"{name}-hidden", visibility="private")
    page = await server.rest("erin").channels(name)
    assert [c["chatId"] for c in page["channels"]] == [channel["chatId"]]
    erin = await server.connect("erin", raw=True)
    try:
        status = await server.rest("erin").fetch("PUT", f"/api/chats/{channel['chatId']}/members/erin", {})
        assert status.status == 201
        await erin.wait_for(_is("chat.added"))
    finally:
        await erin.close()


async def test_both_sides_opening_their_dm_at_once_get_one_chat(server):
    dave, erin = server.rest("dave"), server.rest("erin")
    answers = await asyncio.gather(
        dave.fetch("POST", "/api/chats", {"type": "dm", "members": ["erin"]}),
        erin.fetch("POST", "/api/chats", {"type": "dm", "members": ["dave"]}),
    )
    assert sorted(answer.status for answer in answers) == [200, 201]
    assert len({answer.json()["chat"]["chatId"] for answer in answers}) == 1
    assert (await dave.open_dm("erin"))["chatId"] == answers[0].json()["chat"]["chatId"]
    assert (await server.rest("bob").open_dm("alice"))["chatId"] == "dm-alice-bob"  # the demo's DM
    with pytest.raises(HttpError) as unknown:
        await dave.open_dm("nobody-" + uuid.uuid4().hex[:6])
    assert unknown.value.status == 404


async def _search_total(client: TidingsClient, word: str) -> int:
    reply = await client.request("search.query", {"query": word})
    assert reply["type"] == "search.results", reply
    return int(reply["payload"]["total"])


async def test_a_removed_member_is_cut_off_from_the_chat(server):
    alice, bob, carol = await _clients(server, "alice", "bob", "carol")
    try:
        chat_id = (await server.rest("alice").create_chat("group", "Cut off", ["bob", "carol"]))["chatId"]
        await carol.wait_for(_is("chat.added"))
        word = _word()
        await _send(carol, chat_id, f"hello {word}")
        deadline = asyncio.get_running_loop().time() + SEARCH_CEILING_SECONDS
        while await _search_total(carol, word) < 1:
            assert asyncio.get_running_loop().time() < deadline, "carol's message was never searchable"
            await asyncio.sleep(0.5)

        await server.rest("alice").remove_member(chat_id, "carol")  # the 204
        mark = carol.mark()

        after = await _send(bob, chat_id, "after the removal")
        await alice.wait_for(_is("message.new", chatId=chat_id, seq=after["seq"]))
        await bob.send_raw(encode(make_frame("typing.start", {"chatId": chat_id})))  # no reply by contract
        await alice.wait_for(_is("typing.indicator", chatId=chat_id, userId="bob"))
        await asyncio.sleep(QUIET_SECONDS)
        leaked = [
            f
            for f in carol.frames_after(mark)
            if f["type"] != "chat.removed" and (f.get("payload") or {}).get("chatId") == chat_id
        ]
        assert leaked == []

        ack = await carol.request("message.send", {"chatId": chat_id, "content": "still here?"})
        assert ack["payload"]["error"]["code"] in ("FORBIDDEN", "NOT_FOUND")
        synced = await carol.request("sync.request", {"chatId": chat_id, "lastKnownSeq": 0})
        assert synced["payload"]["error"]["code"] == "FORBIDDEN"
        history = await server.rest("carol").fetch("GET", f"/api/chats/{chat_id}/messages")
        assert history.status in (403, 404)
        assert await _search_total(carol, word) == 0
        assert await _search_total(alice, word) == 1
    finally:
        await _close(alice, bob, carol)
