"""Sync and the chats REST API end to end: a real `tidings dev`, real WebSockets and HTTP.

The reconnect recipe of docs/protocol.md, as a client runs it: remember the last seq seen,
lose the connection, reconnect, then `sync.request` from that seq and get exactly the events
missed, in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import WAIT_SECONDS, Server, start_server, stop_server, wait_until
from tidings_client import ConnectionState, HttpError, TidingsClient

pytestmark = pytest.mark.e2e

REPLY_TIMEOUT = 20.0  # generous: the emulator shares its CPUs with whatever else runs


async def send(client: TidingsClient, chat_id: str, content: str) -> dict[str, Any]:
    ack = await client.request("message.send", {"chatId": chat_id, "content": content}, timeout=REPLY_TIMEOUT)
    assert ack["payload"]["status"] == "ok", ack
    return ack["payload"]["message"]


async def sync(client: TidingsClient, payload: dict[str, Any]) -> dict[str, Any]:
    return await client.request("sync.request", payload, timeout=REPLY_TIMEOUT)


def kinds_and_seqs(events: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(event["type"], event["payload"]["seq"]) for event in events]


async def miss_three_messages_and_an_edit(server: Server) -> tuple[int, int, list[tuple[str, int]], dict[str, Any]]:
    """carol sees a message in project-x and one in general, disconnects, and misses three
    messages and an edit in project-x and one message in general. Returns what she last saw
    in each chat, the project-x events she missed, and the general message she missed."""
    alice = await server.connect("alice", raw=True)
    carol = await server.connect("carol", raw=True)
    # bob stays connected: once he has the last event of each chat, the stream consumer has
    # delivered all of them, so none can still arrive live at carol's next connection (where it
    # would be the insert-time message, not the edited one the sync replays).
    bob = await server.connect("bob", raw=True)
    try:
        seen = await send(alice, "project-x", "before the gap")
        seen_general = await send(alice, "general", "general, before the gap")
        for message in (seen, seen_general):
            await carol.wait_for(
                lambda f, m=message: (
                    f["type"] == "message.new"
                    and f["payload"]["seq"] == m["seq"]
                    and f["payload"]["chatId"] == m["chatId"]
                ),
                timeout=REPLY_TIMEOUT,
            )
        await carol.close()

        missed = [await send(alice, "project-x", f"missed {i}") for i in range(3)]
        edit = await alice.request(
            "message.edit", {"messageId": missed[1]["messageId"], "content": "missed 1, edited"}, timeout=REPLY_TIMEOUT
        )
        assert edit["payload"]["status"] == "ok", edit
        missed_general = await send(alice, "general", "general, during the gap")
        for kind, chat_id, seq in (
            ("message.updated", "project-x", edit["payload"]["seq"]),
            ("message.new", "general", missed_general["seq"]),
        ):
            await bob.wait_for(
                lambda f, k=kind, c=chat_id, q=seq: (
                    f["type"] == k and f["payload"]["chatId"] == c and f["payload"]["seq"] == q
                ),
                timeout=REPLY_TIMEOUT,
            )
    finally:
        await alice.close()
        await bob.close()
    expected = [("message.new", m["seq"]) for m in missed] + [("message.updated", edit["payload"]["seq"])]
    return seen["seq"], seen_general["seq"], expected, missed_general


def assert_missed_project_events(chat: dict[str, Any], expected: list[tuple[str, int]]) -> None:
    assert chat["chatId"] == "project-x"
    assert kinds_and_seqs(chat["events"]) == expected
    contents = [event["payload"]["message"]["content"] for event in chat["events"]]
    # Every event shows the message as it is now: the edit is already in the replayed message.new.
    assert contents == ["missed 0", "missed 1, edited", "missed 2", "missed 1, edited"]
    assert (chat["hasMore"], chat["cursor"], chat["headSeq"]) == (False, None, expected[-1][1])
    assert set(chat["readWatermarks"]) == {"alice", "bob", "carol"}


async def test_a_reconnecting_client_gets_exactly_what_it_missed_through_sync(server):
    last_seen, _, expected, _ = await miss_three_messages_and_an_edit(server)
    carol = await server.connect("carol", raw=True)
    try:
        reply = await sync(carol, {"chatId": "project-x", "lastKnownSeq": last_seen})
        assert reply["type"] == "sync.response"
        assert_missed_project_events(reply["payload"], expected)
    finally:
        await carol.close()


async def test_the_sdk_delivers_what_a_tracked_chat_missed_in_order_once(server):
    # As an application runs the recipe: its cache says the last seq, the SDK syncs on connect.
    last_seen, _, expected, _ = await miss_three_messages_and_an_edit(server)
    carol = server.client("carol")
    events: list[dict[str, Any]] = []
    synced: list[dict[str, Any]] = []

    def on_event(frame: dict[str, Any]) -> None:
        if frame["payload"]["chatId"] == "project-x":
            events.append(frame)

    carol.on("message.new", on_event)
    carol.on("message.updated", on_event)
    carol.on("synced", lambda f: synced.append(f["payload"]))
    carol.track("project-x", last_seen)
    try:
        await carol.connect(timeout=WAIT_SECONDS)
        await wait_until(lambda: len(events) >= len(expected) and synced)
        assert kinds_and_seqs(events[: len(expected)]) == expected
        assert [e["payload"]["message"]["content"] for e in events[: len(expected)]] == [
            "missed 0",
            "missed 1, edited",
            "missed 2",
            "missed 1, edited",
        ]
        assert synced[0]["chatId"] == "project-x" and synced[0]["headSeq"] >= expected[-1][1]
        assert carol.watermarks()["project-x"] >= expected[-1][1]
        sync_requests = [f for f in carol.sent if '"sync.request"' in f]
        assert len(sync_requests) == 1 and f'"project-x":{last_seen}' in sync_requests[0]
    finally:
        await carol.close()


async def test_multi_chat_sync_catches_up_every_chat_at_once(server):
    last_seen, last_seen_general, expected, missed_general = await miss_three_messages_and_an_edit(server)
    carol = await server.connect("carol", raw=True)
    try:
        # erin shares `general` with carol (presence is visible only so); her status depends on
        # what other tests did, so only its presence in the sync is checked here.
        subscribed = await carol.request("presence.subscribe", {"userIds": ["erin"]})
        assert subscribed["payload"]["status"] == "ok"
        reply = await sync(carol, {"chats": {"project-x": last_seen, "general": last_seen_general, "dm-alice-bob": 0}})
        assert reply["type"] == "sync.response"
        payload = reply["payload"]
        # The stored badges of carol's chats (not the dm she is not in); their counts depend on
        # what earlier tests sent, and are checked by value in the handler tests.
        assert sorted(badge["chatId"] for badge in payload["badges"]) == ["general", "project-x"]
        assert all(badge["unreadCount"] >= 0 and badge["totalUnreadCount"] >= 0 for badge in payload["badges"])
        [erin] = payload["presence"]
        assert erin["userId"] == "erin"
        assert erin["status"] in ("available", "away", "dnd", "brb", "offline", "in_a_meeting")
        await carol.request("presence.unsubscribe", {"userIds": ["erin"]})
        project, general, dm = payload["chats"]
        assert_missed_project_events(project, expected)
        assert kinds_and_seqs(general["events"]) == [("message.new", missed_general["seq"])]
        assert general["events"][0]["payload"]["message"]["messageId"] == missed_general["messageId"]
        assert dm == {
            "chatId": "dm-alice-bob",
            "error": {"code": "FORBIDDEN", "message": "You are not a member of chat 'dm-alice-bob'"},
        }
    finally:
        await carol.close()


async def test_sync_pages_with_a_cursor(server):
    bob = await server.connect("bob", raw=True)
    try:
        first = await send(bob, "dm-alice-bob", "page 0")
        for i in range(1, 3):
            await send(bob, "dm-alice-bob", f"page {i}")
        page = (await sync(bob, {"chatId": "dm-alice-bob", "lastKnownSeq": first["seq"] - 1, "limit": 2}))["payload"]
        assert [e["payload"]["message"]["content"] for e in page["events"]] == ["page 0", "page 1"]
        assert page["hasMore"] is True
        rest = (await sync(bob, {"chatId": "dm-alice-bob", "cursor": page["cursor"]}))["payload"]
        assert [e["payload"]["message"]["content"] for e in rest["events"]] == ["page 2"]
        assert (rest["hasMore"], rest["cursor"]) == (False, None)
    finally:
        await bob.close()


async def test_a_non_member_gets_forbidden(server):
    dave = await server.connect("dave", raw=True)
    try:
        reply = await sync(dave, {"chatId": "project-x", "lastKnownSeq": 0})
        assert reply["type"] == "ack"
        assert reply["payload"]["status"] == "error"
        assert reply["payload"]["error"]["code"] == "FORBIDDEN"
        assert dave.state is ConnectionState.CONNECTED
    finally:
        await dave.close()


async def test_a_bad_sync_request_gets_bad_frame(server):
    bob = await server.connect("bob", raw=True)
    try:
        reply = await sync(bob, {"chatId": "project-x", "lastKnownSeq": 0, "limit": 501})
        assert reply["payload"]["error"]["code"] == "BAD_FRAME"
        assert "limit" in reply["payload"]["error"]["message"]
    finally:
        await bob.close()


# --- more than 500 missed events ------------------------------------------------------------
#
# The backlog is a seed (`tidings dev --seed`: a chat's messages, written at startup through the
# message service without the rate limit), on its own `tidings dev`; one more message is sent
# live over the socket. Sending 505 real messages at the 10 a second each user may send took
# minutes of the emulator's CPU and showed nothing more about sync.

TOO_MANY = 505
MEMBERS = ("alice", "bob", "carol", "dave", "erin")


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    history = [{"sender": MEMBERS[i % len(MEMBERS)], "content": f"backlog {i}"} for i in range(TOO_MANY)]
    chat = {"chatId": "backlog", "type": "channel", "name": "backlog", "members": list(MEMBERS), "messages": history}
    seed = tmp_path_factory.mktemp("busy") / "backlog.json"
    seed.write_text(json.dumps({"chats": [chat]}))
    process, server, _ = start_server("--seed", str(seed), log_name="tidings-dev-sync-busy")
    yield server
    stop_server(process)


@pytest.mark.timeout(300)
async def test_more_than_500_missed_events_is_too_large(busy_server):
    # Raw: no gap-filling syncs of the SDK's. erin last saw seq 1 of the seeded backlog; the
    # 504 seeded after it and alice's live message make 505 missed.
    alice = await busy_server.connect("alice", raw=True)
    erin = await busy_server.connect("erin", raw=True)
    try:
        live = await send(alice, "backlog", "the newest")
        assert live["seq"] == TOO_MANY + 1
        reply = await sync(erin, {"chatId": "backlog", "lastKnownSeq": 1})
        payload = reply["payload"]
        assert payload["tooLarge"] is True
        assert payload["headSeq"] == live["seq"]
        assert "events" not in payload

        # The client's way out (docs/protocol.md): refetch the latest page over REST.
        answer = await busy_server.rest("erin").fetch("GET", "/api/chats/backlog/messages", query={"limit": 50})
        assert answer.status == 200
        latest = answer.json()
        assert len(latest["messages"]) == 50
        assert latest["messages"][0]["seq"] == payload["headSeq"]
        assert latest["messages"][0]["content"] == "the newest"
        assert latest["messages"][1]["content"] == f"backlog {TOO_MANY - 1}"
        assert latest["nextBefore"] == latest["messages"][-1]["seq"]

        # One more than 500 behind is too large; exactly 500 behind is synced, in as many
        # responses as API Gateway's 128 KiB message limit needs, continued by the cursor.
        head = payload["headSeq"]
        request: dict[str, Any] = {"chatId": "backlog", "lastKnownSeq": head - 500, "limit": 500}
        seqs: list[int] = []
        while True:
            page = (await sync(erin, request))["payload"]
            assert "tooLarge" not in page
            seqs += [event["payload"]["seq"] for event in page["events"]]
            if not page["hasMore"]:
                break
            request = {"chatId": "backlog", "cursor": page["cursor"], "limit": 500}
        assert seqs == list(range(head - 499, head + 1))
        multi = (await sync(erin, {"chats": {"backlog": head - 501, "project-x": 0}}))["payload"]
        assert multi["chats"][0]["tooLarge"] is True
        assert "tooLarge" not in multi["chats"][1]
    finally:
        await alice.close()
        await erin.close()


# --- the chats REST API ---------------------------------------------------------------------


@pytest.fixture
async def http_api(server: Server) -> Server:
    """The server's HTTP API: an unauthenticated call is a 401 from the function (a 404 would
    mean the runtime does not serve the declared HttpRoutes)."""
    status = (await server.rest().fetch("GET", "/api/chats", auth=False)).status
    assert status == 401, f"GET /api/chats without a token answered {status}"
    return server


async def test_get_chats_lists_the_callers_chats(http_api):
    answer = await http_api.rest("carol").fetch("GET", "/api/chats")
    assert answer.status == 200
    by_id = {chat["chatId"]: chat for chat in answer.json()}
    assert set(by_id) == {"project-x", "general"}
    project = by_id["project-x"]
    assert (project["name"], project["type"]) == ("Project X", "group")
    assert {m["userId"]: m["displayName"] for m in project["members"]} == {
        "alice": "Alice",
        "bob": "Bob",
        "carol": "Carol",
    }
    assert isinstance(project["headSeq"], int)
    assert isinstance(project["lastReadSeq"], int)
    # The counters depend on what earlier tests sent (and on the badges consumer): only their shape here.
    assert all(isinstance(project[count], int) and project[count] >= 0 for count in ("unreadCount", "mentionCount"))
    assert (project["muted"], project["pinned"]) == (False, False)
    dms = await http_api.rest("bob").chats()
    assert {chat["chatId"]: chat["name"] for chat in dms}["dm-alice-bob"] is None


async def test_get_messages_pages_back_newest_first(http_api):
    alice = await http_api.connect("alice")
    try:
        sent = [await alice.send("project-x", f"history {i}") for i in range(3)]
    finally:
        await alice.close()
    bob = http_api.rest("bob")
    answer = await bob.fetch("GET", "/api/chats/project-x/messages", query={"limit": 2})
    assert answer.status == 200
    page = answer.json()
    assert [m["messageId"] for m in page["messages"]] == [sent[2]["messageId"], sent[1]["messageId"]]
    assert page["nextBefore"] == sent[1]["seq"]
    older = await bob.messages("project-x", before=page["nextBefore"], limit=1)
    assert [m["messageId"] for m in older["messages"]] == [sent[0]["messageId"]]


async def test_the_chats_api_refuses_strangers_bad_parameters_and_missing_tokens(http_api):
    with pytest.raises(HttpError) as refused:
        await http_api.rest("dave").messages("project-x")
    assert (refused.value.status, refused.value.code) == (403, "FORBIDDEN")
    with pytest.raises(HttpError) as refused:
        await http_api.rest("bob").messages("project-x", limit=101)
    assert refused.value.status == 400
    assert refused.value.message.startswith("limit")
    with pytest.raises(HttpError) as refused:
        await http_api.rest().request("GET", "/api/chats", auth=False)
    assert (refused.value.status, refused.value.code) == (401, "UNAUTHORIZED")
