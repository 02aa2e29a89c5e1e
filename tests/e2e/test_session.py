"""The session end to end (PROTOCOL.md §3, §11): hello, chat.focus, the connection limit, token
expiry (token.refresh, the close, auth.renew) and revoke, over real WebSockets."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.support.http import post_json
from tests.support.wsclient import Client

pytestmark = pytest.mark.e2e

# Tokens this short expire while the test watches: token.refresh comes at once (the token is
# inside the 70 s lead) and the close at the expiry. `tidings token` itself takes a moment.
SHORT_TTL = 4
EXPIRY_WAIT = SHORT_TTL + 6  # the expiry, plus SQS's whole-second delays and the poll interval


def unique_user(prefix: str) -> str:
    """Tests that close or revoke connections use their own user, so no other test is touched."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def connect_with(server, token: str) -> Client:
    return await Client.connect(f"{server.ws_url}?token={token}")


async def wait_closed(client: Client, timeout: float = 5.0) -> None:
    async def closed() -> None:
        while not client.closed:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(closed(), timeout)


def is_error(code: str):
    return lambda f: f["type"] == "error" and f["payload"]["code"] == code


async def test_hello_gets_welcome(server):
    client = await server.connect("dave")
    try:
        welcome = await client.request("hello", {"protocolVersion": 1, "client": "e2e/1.0"})
        assert welcome["type"] == "welcome"
        payload = welcome["payload"]
        assert payload["userId"] == "dave"
        assert payload["connectionId"]
        assert (payload["protocolVersion"], payload["supportedVersions"]) == (1, [1])
        assert payload["heartbeatIntervalMs"] == 30000
        assert payload["serverTime"].endswith("Z")
        assert (await client.request("ping", {}))["type"] == "pong"
    finally:
        await client.close()


async def test_an_unsupported_version_gets_upgrade_required_and_is_closed(server):
    client = await server.connect("dave")
    try:
        frame_id = await client.send("hello", {"protocolVersion": 99})
        error = await client.reply_to(frame_id)
        assert error["type"] == "error"
        assert error["payload"]["code"] == "UPGRADE_REQUIRED"
        assert error["payload"]["upgradeUrl"]
        await wait_closed(client)
        assert client.ws.close_code == 1000
    finally:
        await client.close()


async def test_chat_focus_acks_a_chat_of_the_user_and_refuses_another(server):
    carol = await server.connect("carol")
    try:
        ack = await carol.request("chat.focus", {"chatId": "general"})
        assert (ack["type"], ack["payload"]["status"]) == ("ack", "ok")
        ack = await carol.request("chat.focus", {"chatId": None})
        assert ack["payload"]["status"] == "ok"
        ack = await carol.request("chat.focus", {"chatId": "dm-alice-bob"})
        assert ack["payload"]["error"]["code"] == "FORBIDDEN"
    finally:
        await carol.close()


async def test_a_sixth_connection_closes_the_oldest_with_connection_limit(server):
    user = unique_user("limit")
    token = server.token(user)
    clients = []
    try:
        for _ in range(5):
            clients.append(await connect_with(server, token))
            await clients[-1].request("ping", {})  # connected, in order
        clients.append(await connect_with(server, token))

        oldest = clients[0]
        error = await oldest.wait_for(is_error("CONNECTION_LIMIT"))
        assert error["payload"]["message"]
        await wait_closed(oldest)
        assert oldest.ws.close_code == 1000
        for client in clients[1:]:
            assert (await client.request("ping", {}))["type"] == "pong"
            assert not client.of_type("error")
    finally:
        for client in clients:
            await client.close()


async def test_a_short_lived_token_gets_token_refresh_then_unauthorized_and_the_close(server):
    client = await connect_with(server, server.token(unique_user("expiry"), ttl=SHORT_TTL))
    try:
        refresh = await client.wait_for(lambda f: f["type"] == "token.refresh", timeout=EXPIRY_WAIT)
        assert refresh["payload"]["expiresAt"].endswith("Z")
        error = await client.wait_for(is_error("UNAUTHORIZED"), timeout=EXPIRY_WAIT)
        assert error["payload"]["message"]
        await wait_closed(client)
        assert client.ws.close_code == 1000
        assert client.frames.index(refresh) < client.frames.index(error)
    finally:
        await client.close()


async def test_a_token_inside_the_refresh_lead_gets_token_refresh_at_once(server):
    client = await connect_with(server, server.token("erin", ttl=70))
    try:
        refresh = await client.wait_for(lambda f: f["type"] == "token.refresh")
        assert refresh["payload"]["expiresAt"].endswith("Z")
        assert not client.closed
    finally:
        await client.close()


async def test_auth_renew_with_a_fresh_token_prevents_the_close(server):
    user = unique_user("renew")
    short = server.token(user, ttl=SHORT_TTL)
    fresh = server.token(user, ttl=900)
    renewed = await connect_with(server, short)
    control = await connect_with(server, short)  # same token, same expiry, not renewed
    try:
        ack = await renewed.request("auth.renew", {"token": fresh})
        assert ack["payload"]["status"] == "ok", ack
        await control.wait_for(is_error("UNAUTHORIZED"), timeout=EXPIRY_WAIT)
        await wait_closed(control)
        # The renewed connection's timers for the old expiry were due together with the
        # control's: they have run, and it is still open.
        assert (await renewed.request("ping", {}))["type"] == "pong"
        await asyncio.sleep(1.0)
        assert not renewed.closed
        assert not renewed.of_type("error")
    finally:
        await renewed.close()
        await control.close()


async def test_auth_renew_with_another_users_token_is_forbidden(server):
    client = await server.connect("dave")
    try:
        ack = await client.request("auth.renew", {"token": server.token("erin")})
        assert ack["payload"]["error"]["code"] == "FORBIDDEN"
        ack = await client.request("auth.renew", {"token": "not-a-jwt"})
        assert ack["payload"]["error"]["code"] == "UNAUTHORIZED"
    finally:
        await client.close()


async def test_revoke_closes_every_connection_of_the_user(server):
    user = unique_user("revoke")
    token = server.token(user)
    clients = [await connect_with(server, token) for _ in range(3)]
    bystander = await server.connect("dave")
    try:
        for client in clients:
            await client.request("ping", {})
        status, body = post_json(f"{server.base_url}/api/auth/revoke", token=token)
        assert (status, body) == (200, {"revoked": True})
        for client in clients:
            await client.wait_for(is_error("UNAUTHORIZED"))
            await wait_closed(client)
        assert (await bystander.request("ping", {}))["type"] == "pong"
        # The revoked token can neither reconnect nor call the API again.
        assert post_json(f"{server.base_url}/api/auth/revoke", token=token)[0] == 401
    finally:
        for client in [*clients, bystander]:
            await client.close()


def test_a_cli_session_refreshes_over_the_http_api_and_a_rotated_token_is_refused(server):
    import subprocess
    import urllib.request

    from tests.e2e.conftest import TIDINGS

    printed = subprocess.run(
        [str(TIDINGS), "session", "bob", "--url", server.base_url], check=True, capture_output=True, text=True
    ).stdout
    session = json.loads(printed)
    assert {"token", "refreshToken", "expiresAt"} <= session.keys()

    def refresh(refresh_token: str):
        request = urllib.request.Request(
            f"{server.base_url}/api/auth/refresh",
            data=json.dumps({"refreshToken": refresh_token}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.load(response)

    renewed = refresh(session["refreshToken"])
    assert renewed["refreshToken"] != session["refreshToken"]
    assert renewed["token"]
    try:
        refresh(session["refreshToken"])
        raise AssertionError("a rotated refresh token must be refused")
    except urllib.error.HTTPError as refused:
        assert refused.code == 401
        assert json.load(refused)["error"]["code"] == "UNAUTHORIZED"
