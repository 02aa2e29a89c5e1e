"""The session end to end: hello, chat.focus, the connection limit, token
expiry (token.refresh, the close, auth.renew) and revoke, over real WebSockets."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid

import pytest

from tests.e2e.conftest import TIDINGS, WAIT_SECONDS
from tidings_client import ConnectionState, HttpError, RestClient, TidingsClient

pytestmark = pytest.mark.e2e

# Tokens this short expire while the test watches: token.refresh comes at once (the token is
# inside the 70 s lead) and the close at the expiry. `tidings token` itself takes a moment.
SHORT_TTL = 8  # long enough to make a token (a subprocess) and connect twice on a loaded machine
EXPIRY_WAIT = SHORT_TTL + 6  # the expiry, plus SQS's whole-second delays and the poll interval


def unique_user(prefix: str) -> str:
    """Tests that close or revoke connections use their own user, so no other test is touched."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def connect_with(server, token: str) -> TidingsClient:
    return await server.connect(token=token, raw=True)


async def close_code(client: TidingsClient) -> int:
    """The close code of the server's close (which the test waits for)."""
    info = await client.wait_closed(timeout=WAIT_SECONDS)
    assert info.by == "server", info
    return info.code


def is_error(code: str):
    return lambda f: f["type"] == "error" and f["payload"]["code"] == code


async def test_hello_gets_welcome(server):
    client = await server.connect("dave", raw=True)
    try:
        welcome = await client.request("hello", {"protocolVersion": 1, "client": "e2e/1.0"})
        assert welcome["type"] == "welcome"
        payload = welcome["payload"]
        assert payload["userId"] == "dave"
        assert payload["connectionId"]
        assert (payload["protocolVersion"], payload["supportedVersions"]) == (1, [1, 2])
        assert payload["heartbeatIntervalMs"] == 30000
        assert payload["serverTime"].endswith("Z")
        assert (await client.request("ping", {}))["type"] == "pong"
    finally:
        await client.close()


async def test_an_unsupported_version_gets_upgrade_required_and_is_closed(server):
    client = await server.connect("dave", raw=True)
    try:
        error = await client.request("hello", {"protocolVersion": 99})
        assert error["type"] == "error"
        assert error["payload"]["code"] == "UPGRADE_REQUIRED"
        assert error["payload"]["upgradeUrl"]
        assert await close_code(client) == 1000
    finally:
        await client.close()


async def test_chat_focus_acks_a_chat_of_the_user_and_refuses_another(server):
    carol = await server.connect("carol", raw=True)
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
        assert await close_code(oldest) == 1000
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
        assert await close_code(client) == 1000
        assert client.frames.index(refresh) < client.frames.index(error)
    finally:
        await client.close()


async def test_a_token_inside_the_refresh_lead_gets_token_refresh_at_once(server):
    client = await connect_with(server, server.token("erin", ttl=70))
    try:
        refresh = await client.wait_for(lambda f: f["type"] == "token.refresh")
        assert refresh["payload"]["expiresAt"].endswith("Z")
        assert client.state is ConnectionState.CONNECTED
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
        await control.wait_closed(timeout=WAIT_SECONDS)
        # The renewed connection's timers for the old expiry were due together with the
        # control's: they have run, and it is still open.
        assert (await renewed.request("ping", {}))["type"] == "pong"
        await asyncio.sleep(1.0)
        assert renewed.state is ConnectionState.CONNECTED
        assert not renewed.of_type("error")
    finally:
        await renewed.close()
        await control.close()


async def test_auth_renew_with_another_users_token_is_forbidden(server):
    client = await server.connect("dave", raw=True)
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
    bystander = await server.connect("dave", raw=True)
    try:
        for client in clients:
            await client.request("ping", {})
        rest = server.rest(token=token)
        revoked = await rest.fetch("POST", "/api/auth/revoke")
        assert (revoked.status, revoked.json()) == (200, {"revoked": True})
        for client in clients:
            await client.wait_for(is_error("UNAUTHORIZED"))
            await client.wait_closed(timeout=WAIT_SECONDS)
        assert (await bystander.request("ping", {}))["type"] == "pong"
        # The revoked token can neither reconnect nor call the API again.
        with pytest.raises(HttpError) as refused:
            await rest.revoke()
        assert refused.value.status == 401
    finally:
        for client in [*clients, bystander]:
            await client.close()


async def test_a_cli_session_refreshes_over_the_http_api_and_a_rotated_token_is_refused(server):
    printed = subprocess.run(
        [str(TIDINGS), "session", "bob", "--url", server.base_url], check=True, capture_output=True, text=True
    ).stdout
    session = json.loads(printed)
    assert {"token", "refreshToken", "expiresAt"} <= session.keys()

    rest = RestClient(server.base_url)  # a refresh needs no access token
    renewed = await rest.refresh(session["refreshToken"])
    assert renewed["refreshToken"] != session["refreshToken"]
    assert renewed["token"]
    with pytest.raises(HttpError) as refused:
        await rest.refresh(session["refreshToken"])
    assert (refused.value.status, refused.value.code) == (401, "UNAUTHORIZED")
