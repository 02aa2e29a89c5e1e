"""The administration API and `--seed` against a real `tidings dev --demo --seed FILE`: a platform
provisions a user with `tidings admin`, mints a session with a botocore-signed
`POST /admin/sessions`, and that token connects over a WebSocket through the Python SDK;
unsigned and wrongly signed calls are refused; the export returns what the user wrote; an
erased user's messages, membership, connection and search entries go."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from botocore.credentials import Credentials

from tests.e2e.conftest import TIDINGS, WAIT_SECONDS, Server, start_server, stop_server
from tests.support.webpush import Subscriber
from tidings_client import HandshakeError, TidingsError
from tidings_local import admin_cli, sigv4

SEED = {
    "users": [
        {"userId": "pat@platform", "displayName": "Pat", "email": "pat@example.com"},
        {"userId": "sam", "displayName": "Sam"},
    ],
    "chats": [
        {
            "chatId": "ops",
            "type": "group",
            "name": "Ops",
            "members": ["pat@platform", "sam", "alice"],
            "admins": ["pat@platform"],
        }
    ],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    seed = tmp_path_factory.mktemp("seed") / "seed.yaml"
    seed.write_text(json.dumps(SEED))  # JSON is YAML: the .yaml file goes through the YAML parser
    process, server, _ = start_server("--seed", str(seed), log_name="tidings-dev-admin")
    yield server
    stop_server(process)


def admin(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TIDINGS), "admin", *args, "--url", server.base_url], capture_output=True, text=True, timeout=WAIT_SECONDS
    )


def test_the_seed_files_users_and_chats_are_there_beside_the_demo(server: Server) -> None:
    shown = admin(server, "users", "get", "pat@platform")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["user"] == {
        "userId": "pat@platform",
        "displayName": "Pat",
        "email": "pat@example.com",
    }
    chats = asyncio.run(server.rest("sam").chats())
    [ops] = [chat for chat in chats if chat["chatId"] == "ops"]
    assert ops["name"] == "Ops" and sorted(m["userId"] for m in ops["members"]) == ["alice", "pat@platform", "sam"]
    assert admin(server, "users", "get", "carol").returncode == 0  # --demo's users too


async def test_a_provisioned_user_signs_in_with_a_minted_session_and_connects(server: Server) -> None:
    created = await asyncio.to_thread(admin, server, "users", "put", "zed", "--display-name", "Zed")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout) == {"user": {"userId": "zed", "displayName": "Zed"}}
    session = await asyncio.to_thread(admin_cli.call, "POST", server.base_url, "/admin/sessions", {"userId": "zed"})
    assert set(session) == {"token", "refreshToken", "expiresAt"}
    client = await server.connect(token=session["token"])
    try:
        assert client.welcome is not None and client.welcome["userId"] == "zed"
    finally:
        await client.close()


def test_unsigned_and_wrongly_signed_calls_are_refused_and_change_nothing(server: Server) -> None:
    url = f"{server.base_url}/admin/users/mallory"
    body = json.dumps({"displayName": "Mallory"}).encode()
    attempts = {
        "unsigned": {"Content-Type": "application/json"},
        "wrong secret": sigv4.sign("PUT", url, body, credentials=Credentials(sigv4.DEV_ACCESS_KEY, "guess")),
    }
    for what, headers in attempts.items():
        request = urllib.request.Request(url, data=body, headers=headers, method="PUT")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=WAIT_SECONDS)
        assert refused.value.code == 403, what
        message = json.load(refused.value)["message"]
        assert message == "Forbidden" if what == "unsigned" else message.startswith("The request signature"), what
    missing = admin(server, "users", "get", "mallory")
    assert missing.returncode == 1
    assert "No user 'mallory'" in missing.stderr and "HTTP 404" in missing.stderr and "Traceback" not in missing.stderr


async def test_the_export_returns_what_the_user_wrote(server: Server) -> None:
    minted = await asyncio.to_thread(admin, server, "session", "pat@platform", "--ttl", "600")
    assert minted.returncode == 0, minted.stderr
    pat = await server.connect(token=json.loads(minted.stdout)["token"])
    try:
        sent = await pat.send("ops", "words for the export")
    finally:
        await pat.close()
    exported = await asyncio.to_thread(admin, server, "export", "pat@platform")
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert [(m["messageId"], m["content"]) for m in document["messages"]] == [
        (sent["messageId"], "words for the export")
    ]
    assert [m["chatId"] for m in document["memberships"]] == ["ops"]
    assert document["user"]["email"] == "pat@example.com"


def _is(frame_type: str, **fields: object):
    def match(frame: dict) -> bool:
        payload = frame.get("payload", {})
        return frame["type"] == frame_type and all(payload.get(k) == v for k, v in fields.items())

    return match


async def test_users_the_platform_put_in_a_chat_it_created_talk_over_websockets(server: Server) -> None:
    pat = await server.connect("pat@platform", raw=True)
    sam = await server.connect("sam", raw=True)
    try:
        made = await asyncio.to_thread(
            admin, server, "chats", "create", "--type", "group", "--chat-id", "kickoff", "--name", "Kick-off",
            "--member", "pat@platform", "--member", "sam",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        created = json.loads(made.stdout)
        assert {m["userId"]: m["role"] for m in created["chat"]["members"]} == {
            "pat@platform": "member",
            "sam": "member",
        }
        await pat.wait_for(_is("chat.added"))
        await sam.wait_for(_is("chat.added"))
        ack = await pat.request("message.send", {"chatId": "kickoff", "content": "hi Sam"})
        assert ack["payload"]["status"] == "ok", ack
        heard = await sam.wait_for(_is("message.new", chatId="kickoff"))
        assert heard["payload"]["message"]["content"] == "hi Sam"
        renamed = await asyncio.to_thread(
            admin_cli.call, "PATCH", server.base_url, "/admin/chats/kickoff", {"name": "Kick-off (done)"}
        )
        assert renamed["chat"]["name"] == "Kick-off (done)"
        updated = await sam.wait_for(_is("chat.updated", chatId="kickoff"))
        assert updated["payload"]["seq"] > heard["payload"]["message"]["seq"]
        taken = await asyncio.to_thread(
            admin, server, "chats", "create", "--type", "group", "--chat-id", "kickoff", "--name", "x",
            "--member", "sam",
        )  # fmt: skip
        assert taken.returncode == 1 and "Traceback" not in taken.stderr
        assert taken.stderr.startswith("tidings admin: chatId: chat 'kickoff' exists (HTTP 409)"), taken.stderr
        missing = await asyncio.to_thread(admin, server, "members", "add", "kickoff", "nobody")
        assert missing.returncode == 1 and "userId: no user 'nobody' (HTTP 404)" in missing.stderr, missing.stderr
    finally:
        await pat.close()
        await sam.close()


async def test_a_removal_by_the_platform_cuts_the_connected_user_off(server: Server) -> None:
    pat = await server.connect("pat@platform", raw=True)
    sam = await server.connect("sam", raw=True)
    try:
        body = {"type": "group", "chatId": "cutoff", "name": "Cut-off", "members": ["sam"], "admins": ["pat@platform"]}
        await asyncio.to_thread(admin_cli.call, "POST", server.base_url, "/admin/chats", body)
        await sam.wait_for(_is("chat.added"))
        removed = await asyncio.to_thread(admin, server, "members", "remove", "cutoff", "sam")
        assert (removed.returncode, removed.stdout, removed.stderr) == (0, "", "")
        await sam.wait_for(_is("chat.removed", chatId="cutoff"))
        await pat.wait_for(_is("member.left", chatId="cutoff", userId="sam"))
        mark = sam.mark()
        ack = await pat.request("message.send", {"chatId": "cutoff", "content": "after the removal"})
        assert ack["payload"]["status"] == "ok", ack
        await pat.wait_for(_is("message.new", chatId="cutoff"))
        refused = await sam.request("message.send", {"chatId": "cutoff", "content": "still here?"})
        assert refused["payload"]["error"]["code"] in ("FORBIDDEN", "NOT_FOUND")
        synced = await sam.request("sync.request", {"chatId": "cutoff", "lastKnownSeq": 0})
        assert synced["payload"]["error"]["code"] == "FORBIDDEN"
        leaked = [f for f in sam.frames_after(mark) if (f.get("payload") or {}).get("chatId") == "cutoff"]
        assert [f["type"] for f in leaked] == []
    finally:
        await pat.close()
        await sam.close()


async def _until_found(client, query: str, done, timeout: float = WAIT_SECONDS) -> dict:
    """Searches until `done(total)` (the index follows the event log a moment later)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = await client.search(query, scope="messages")
            if done(answer["total"]):
                return answer
        except TidingsError:  # RATE_LIMITED: searching again in a moment will do
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"search {query!r} never satisfied the condition")
        await asyncio.sleep(0.3)


async def test_an_erased_user_disappears_from_the_chat_their_connection_search_and_the_api(server: Server) -> None:
    erin, fay, word = f"erin-{uuid.uuid4().hex[:6]}", f"fay-{uuid.uuid4().hex[:6]}", f"zq{uuid.uuid4().hex[:8]}"
    for user_id in (erin, fay):
        made = await asyncio.to_thread(admin, server, "users", "put", user_id, "--display-name", user_id.title())
        assert made.returncode == 0, made.stderr
    body = {"type": "group", "name": "Erasure", "members": [erin, fay]}
    chat_id = (await asyncio.to_thread(admin_cli.call, "POST", server.base_url, "/admin/chats", body))["chat"]["chatId"]
    session = await asyncio.to_thread(admin_cli.call, "POST", server.base_url, "/admin/sessions", {"userId": erin})
    leaving = await server.connect(token=session["token"], raw=True)
    staying = await server.connect(fay, raw=True)
    try:
        sent = []
        for n in range(2):
            ack = await leaving.request("message.send", {"chatId": chat_id, "content": f"{word} number {n}"})
            assert ack["payload"]["status"] == "ok", ack
            sent.append(ack["payload"]["message"]["messageId"])
        registered = await server.rest(token=session["token"]).fetch(
            "POST", "/api/push/subscriptions", Subscriber().subscription("http://127.0.0.1:9/push/erin")
        )
        assert registered.status == 201, registered.text
        await _until_found(staying, word, lambda total: total == 2)

        erased = await asyncio.to_thread(
            subprocess.run,
            [str(TIDINGS), "admin", "erase", erin, "--wait", "--timeout", "60", "--url", server.base_url],
            capture_output=True, text=True, timeout=WAIT_SECONDS + 30,
        )  # fmt: skip
        assert erased.returncode == 0, erased.stderr
        assert json.loads(erased.stdout) == {"userId": erin, "erasure": "started"}
        assert f"{erin} erased" in erased.stderr and "Traceback" not in erased.stderr

        # The other member sees each message deleted, with its seq, then the erased user leave.
        deleted = [await staying.wait_for(_is("message.deleted", chatId=chat_id, messageId=m)) for m in sent]
        assert all(frame["payload"]["seq"] > 0 for frame in deleted)
        await staying.wait_for(_is("member.left", chatId=chat_id, userId=erin))
        # The erased user's connection was closed by the server, and the token no longer connects.
        info = await leaving.wait_closed(timeout=WAIT_SECONDS)
        assert info.by == "server", info
        with pytest.raises(HandshakeError) as refused:
            await server.connect(token=session["token"], raw=True)
        assert refused.value.status in (401, 403)
        # Search no longer finds their messages; the API no longer knows them.
        await _until_found(staying, word, lambda total: total == 0)
        shown = await asyncio.to_thread(admin, server, "users", "get", erin)
        assert shown.returncode == 1 and "HTTP 404" in shown.stderr, shown.stderr
        exported = await asyncio.to_thread(admin, server, "export", erin)
        assert exported.returncode == 1 and "HTTP 404" in exported.stderr, exported.stderr
    finally:
        await leaving.close()
        await staying.close()
