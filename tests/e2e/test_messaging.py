"""The walking skeleton end to end: a real `tidings dev`, real WebSockets, real clients."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.request
import uuid

import jwt
import pytest

from tests.e2e.conftest import wait_until
from tests.support.http import handshake_status
from tidings.sessions.tokens import issue_token
from tidings_client import ConnectionState
from tidings_local.keys import dev_signing_key

pytestmark = pytest.mark.e2e

QUIET_SECONDS = 1.0  # how long "nothing else arrives" is watched for


def _claims(user: str) -> dict:
    now = int(time.time())
    return {"sub": user, "iat": now, "exp": now + 600, "iss": "tidings", "aud": "tidings"}


def _expired_token(user: str) -> str:
    """Signed with the runtime's key, expired an hour ago (`tidings token` refuses to print one)."""
    return issue_token(user, dev_signing_key(), ttl_seconds=60, now=time.time() - 3600)


def _alg_none_token(user: str) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(_claims(user))}."


def _signed_with_another_key(user: str) -> str:
    """A token shaped exactly like the server's own (HS256, its issuer and audience), signed
    with a key the server does not have."""
    return jwt.encode(_claims(user), "some-other-key-that-is-long-enough-to-sign-hs256", algorithm="HS256")


def test_healthz_answers_ok(server):
    with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=5) as response:
        assert response.status == 200
        assert json.load(response)["status"] == "ok"


async def test_a_connection_without_a_token_is_refused_with_401(server):
    assert await handshake_status(server.ws_url) == 401


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda s: "not-a-jwt", id="malformed"),
        pytest.param(lambda s: _alg_none_token("alice"), id="alg-none"),
        pytest.param(lambda s: _signed_with_another_key("alice"), id="bad-signature"),
        pytest.param(lambda s: _expired_token("alice"), id="expired"),
    ],
)
async def test_bad_tokens_are_refused_with_403(server, make_token):
    token = make_token(server)
    assert await handshake_status(f"{server.ws_url}?token={token}") == 403
    assert await handshake_status(server.ws_url, headers={"Authorization": f"Bearer {token}"}) == 403


async def test_a_bearer_header_token_is_accepted(server):
    client = await server.connect("carol", raw=True, token_in="header")
    try:
        pong = await client.request("ping", {})
        assert pong["type"] == "pong"
    finally:
        await client.close()


async def test_send_acks_then_every_member_connection_gets_message_new(server):
    alice_phone = await server.connect("alice", raw=True)
    alice_laptop = await server.connect("alice", raw=True)
    bob = await server.connect("bob", raw=True)
    carol = await server.connect("carol", raw=True)  # not in the DM
    try:
        ack = await alice_phone.request("message.send", {"chatId": "dm-alice-bob", "content": "hi @bob"})
        assert ack["type"] == "ack"
        assert ack["payload"]["status"] == "ok"
        message = ack["payload"]["message"]
        assert message["chatId"] == "dm-alice-bob"
        assert message["senderId"] == "alice"
        assert message["senderName"] == "Alice"
        assert message["mentions"] == ["bob"]

        def is_it(f):
            return f["type"] == "message.new" and f["payload"]["message"]["messageId"] == message["messageId"]

        for client in (bob, alice_laptop):
            delivered = await client.wait_for(is_it)
            assert delivered["payload"]["seq"] == message["seq"]
            assert delivered["payload"]["chatId"] == "dm-alice-bob"
            assert delivered["payload"]["message"]["content"] == "hi @bob"
        await asyncio.sleep(QUIET_SECONDS)
        assert not [f for f in carol.frames if is_it(f)], "carol is not in the DM"
    finally:
        for client in (alice_phone, alice_laptop, bob, carol):
            await client.close()


async def test_a_retry_with_the_same_id_gets_the_same_ack_and_no_second_delivery(server):
    alice = await server.connect("alice", raw=True)
    bob = await server.connect("bob", raw=True)
    try:
        payload = {"chatId": "dm-alice-bob", "content": "exactly once"}
        first = await alice.request("message.send", payload)
        first_id = first["payload"]["refId"]
        retry = await alice.request("message.send", payload, id=first_id)
        assert retry["payload"]["message"]["messageId"] == first["payload"]["message"]["messageId"]
        assert retry["payload"]["message"]["seq"] == first["payload"]["message"]["seq"]

        message_id = first["payload"]["message"]["messageId"]
        await bob.wait_for(lambda f: f["type"] == "message.new" and f["payload"]["message"]["messageId"] == message_id)
        await asyncio.sleep(QUIET_SECONDS)
        deliveries = [f for f in bob.of_type("message.new") if f["payload"]["message"]["messageId"] == message_id]
        assert len(deliveries) == 1
    finally:
        await alice.close()
        await bob.close()


async def _history(server, user: str, chat_id: str) -> list[dict]:
    response = await server.rest(user).fetch("GET", f"/api/chats/{chat_id}/messages", query={"limit": 50})
    assert response.status == 200
    return response.json()["messages"]


def _new_message(message_id: str):
    return lambda f: f["type"] == "message.new" and f["payload"]["message"]["messageId"] == message_id


async def test_two_users_sending_with_the_same_id_at_once_both_get_their_own_message_stored(server):
    bob, carol, alice = [await server.connect(user, raw=True) for user in ("bob", "carol", "alice")]
    try:
        frame_id = f"same-{uuid.uuid4()}"
        replies = await asyncio.gather(
            bob.request("message.send", {"chatId": "project-x", "content": "bob's words"}, id=frame_id),
            carol.request("message.send", {"chatId": "project-x", "content": "carol's words"}, id=frame_id),
        )
        assert [reply["payload"]["refId"] for reply in replies] == [frame_id, frame_id]
        bobs, carols = [reply["payload"]["message"] for reply in replies]
        assert (bobs["senderId"], bobs["content"]) == ("bob", "bob's words")
        assert (carols["senderId"], carols["content"]) == ("carol", "carol's words")
        assert bobs["messageId"] != carols["messageId"] and bobs["seq"] != carols["seq"]

        for message in (bobs, carols):
            delivered = await alice.wait_for(_new_message(message["messageId"]))
            assert delivered["payload"]["message"]["content"] == message["content"]
        stored = {m["messageId"]: (m["senderId"], m["content"]) for m in await _history(server, "alice", "project-x")}
        assert stored[bobs["messageId"]] == ("bob", "bob's words")
        assert stored[carols["messageId"]] == ("carol", "carol's words")

        # The same user reusing the id for something else is refused, and nothing is stored.
        await bob.request("message.send", {"chatId": "project-x", "content": "other words"}, id=frame_id)
        await asyncio.sleep(QUIET_SECONDS)
        replies = [f for f in bob.frames if f.get("payload", {}).get("refId") == frame_id]
        assert [f["payload"]["status"] for f in replies] == ["ok", "error"]
        assert replies[-1]["payload"]["error"]["code"] == "CONFLICT"
        assert not [f for f in alice.of_type("message.new") if f["payload"]["message"]["content"] == "other words"]
    finally:
        for client in (bob, carol, alice):
            await client.close()


async def test_deletes_and_reactions_with_the_same_id_from_two_users_at_once_both_apply(server):
    alice, bob, carol = [await server.connect(user, raw=True) for user in ("alice", "bob", "carol")]
    try:
        target = (await alice.request("message.send", {"chatId": "project-x", "content": "react to me"}))["payload"]
        target_id = target["message"]["messageId"]
        react_id = f"react-{uuid.uuid4()}"
        bob_react, carol_react = [
            reply["payload"]
            for reply in await asyncio.gather(
                bob.request("message.react", {"messageId": target_id, "emoji": "👍", "action": "add"}, id=react_id),
                carol.request("message.react", {"messageId": target_id, "emoji": "🎉", "action": "add"}, id=react_id),
            )
        ]
        assert bob_react["status"] == carol_react["status"] == "ok"
        assert bob_react["seq"] != carol_react["seq"]
        latest = max(bob_react["seq"], carol_react["seq"])
        final = await alice.wait_for(lambda f: f["type"] == "message.reaction" and f["payload"]["seq"] == latest)
        assert sorted(final["payload"]["reactions"].items()) == [("🎉", ["carol"]), ("👍", ["bob"])]

        bobs = (await bob.request("message.send", {"chatId": "project-x", "content": "bob: delete me"}))["payload"]
        carols = (await carol.request("message.send", {"chatId": "project-x", "content": "carol: delete me"}))[
            "payload"
        ]
        delete_id = f"delete-{uuid.uuid4()}"
        bob_delete, carol_delete = await asyncio.gather(
            bob.request("message.delete", {"messageId": bobs["message"]["messageId"]}, id=delete_id),
            carol.request("message.delete", {"messageId": carols["message"]["messageId"]}, id=delete_id),
        )
        acks = {"bob": bob_delete["payload"], "carol": carol_delete["payload"]}
        assert acks["bob"]["messageId"] == bobs["message"]["messageId"]
        assert acks["carol"]["messageId"] == carols["message"]["messageId"]
        for ack in acks.values():
            assert ack["status"] == "ok"
            deleted = await alice.wait_for(
                lambda f, ack=ack: f["type"] == "message.deleted" and f["payload"]["seq"] == ack["seq"]
            )
            assert deleted["payload"]["messageId"] == ack["messageId"]
        stored = {m["messageId"]: m for m in await _history(server, "alice", "project-x")}
        assert stored[bobs["message"]["messageId"]]["deleted"] is True
        assert stored[carols["message"]["messageId"]]["deleted"] is True
    finally:
        for client in (alice, bob, carol):
            await client.close()


async def test_five_quick_sends_get_strictly_increasing_seqs_each_delivered_once(server):
    alice = await server.connect("alice", raw=True)
    carol = await server.connect("carol", raw=True)
    try:
        # Back to back, each as soon as the previous is acked: seqs follow the send order.
        in_order = [
            await alice.request("message.send", {"chatId": "project-x", "content": f"quick {i}"}) for i in range(5)
        ]
        seqs = [ack["payload"]["message"]["seq"] for ack in in_order]
        assert seqs == sorted(set(seqs)), seqs

        # All five in flight at once (frames of one connection run concurrently, as on AWS):
        # the order is the server's, but every send still gets its own seq. First a new rate
        # window: ten sends inside one second are over the 10-per-second limit on a fast machine.
        await asyncio.sleep(1.1)
        acks = await asyncio.gather(
            *(alice.request("message.send", {"chatId": "project-x", "content": f"burst {i}"}) for i in range(5))
        )
        assert all(ack["payload"]["status"] == "ok" for ack in acks), acks
        burst = [ack["payload"]["message"]["seq"] for ack in acks]
        assert len(set(burst)) == 5
        assert min(burst) > seqs[-1]

        every = set(seqs) | set(burst)
        await carol.wait_for(lambda f: f["type"] == "message.new" and f["payload"]["seq"] == max(every))
        await asyncio.sleep(QUIET_SECONDS)
        delivered = [f["payload"]["seq"] for f in carol.of_type("message.new") if f["payload"]["seq"] in every]
        assert sorted(delivered) == sorted(every), "each delivered exactly once"
    finally:
        await alice.close()
        await carol.close()


async def test_a_non_members_send_is_forbidden_and_reaches_nobody(server):
    dave = await server.connect("dave", raw=True)
    alice = await server.connect("alice", raw=True)
    try:
        ack = await dave.request("message.send", {"chatId": "project-x", "content": "let me in"})
        assert ack["payload"]["status"] == "error"
        assert ack["payload"]["error"]["code"] == "FORBIDDEN"
        await asyncio.sleep(QUIET_SECONDS)
        assert not [f for f in alice.of_type("message.new") if f["payload"]["message"]["content"] == "let me in"]
    finally:
        await dave.close()
        await alice.close()


async def test_a_channel_message_reaches_all_five_members(server):
    # As an application sees it: the SDK's message handler of every member gets it.
    clients = {user: await server.connect(user) for user in ("alice", "bob", "carol", "dave", "erin")}
    handled: dict[str, list[dict]] = {user: [] for user in clients}
    for user, client in clients.items():
        client.on("message.new", handled[user].append)
    try:
        message = await clients["erin"].send("general", "hello all")

        def is_it(f):
            return f["payload"]["message"]["messageId"] == message["messageId"]

        for user, client in clients.items():
            # The server's own frame (for erin too: not only the SDK's event for her ack) ...
            await client.wait_for("message.new", is_it)
            # ... and the handler's.
            await wait_until(lambda user=user: any(is_it(f) for f in handled[user]))
    finally:
        for client in clients.values():
            await client.close()


async def test_bad_frames_get_their_errors_and_the_connection_keeps_working(server):
    alice = await server.connect("alice", raw=True)
    try:
        await alice.send_raw("{this is not json")
        bad = await alice.wait_for(lambda f: f["type"] == "error")
        assert bad["payload"]["code"] == "BAD_FRAME"

        unknown = await alice.request("teleport", {"to": "mars"})
        assert unknown["type"] == "ack"
        assert unknown["payload"]["error"]["code"] == "UNKNOWN_TYPE"

        invalid = await alice.request("message.send", {"chatId": "dm-alice-bob"})
        assert invalid["payload"]["status"] == "error"
        assert invalid["payload"]["error"]["code"] == "BAD_FRAME"
        assert "content" in invalid["payload"]["error"]["message"]

        too_large = await alice.request("message.send", {"chatId": "dm-alice-bob", "content": "x" * 70_000})
        assert too_large["type"] == "error"
        assert too_large["payload"]["code"] == "FRAME_TOO_LARGE"

        assert alice.state is ConnectionState.CONNECTED
        pong = await alice.request("ping", {})
        assert pong["type"] == "pong"
        ok = await alice.request("message.send", {"chatId": "dm-alice-bob", "content": "still here"})
        assert ok["payload"]["status"] == "ok"
    finally:
        await alice.close()


async def test_a_closed_connection_stops_receiving_and_the_others_still_do(server):
    bob_gone = await server.connect("bob")
    bob = await server.connect("bob")
    alice = await server.connect("alice")
    try:
        await bob_gone.close()
        message = await alice.send("dm-alice-bob", "after close")
        message_id = message["messageId"]
        await bob.wait_for(lambda f: f["type"] == "message.new" and f["payload"]["message"]["messageId"] == message_id)
    finally:
        await bob.close()
        await alice.close()


async def _invocations(server) -> dict:
    return (await server.local("GET", "/_local/stats"))["invocations"]


async def test_ping_is_answered_by_the_gateway_without_a_lambda_invocation(server):
    client = await server.connect("carol", raw=True)
    try:
        before = await _invocations(server)
        frame_id = str(uuid.uuid4())
        pong = await client.request("ping", {}, id=frame_id)
        assert pong["type"] == "pong"
        assert pong["payload"] == {"refId": frame_id}
        assert pong["timestamp"].endswith("Z")
        after = await _invocations(server)
        assert after.get("Default", 0) == before.get("Default", 0), "ping must not invoke a function"
    finally:
        await client.close()
