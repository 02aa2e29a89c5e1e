"""Session races end to end, over real WebSockets against `tidings dev`:
connects of one user beyond the limit at the same moment, a revoke during a burst of connects,
one refresh token used twice at once, oversized tokens; and, last, that no token reached the
runtime's log through any of it.

Its own runtime: these tests revoke and evict demo users' connections, which would disturb the
tests sharing the session's runtime.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Server, start_server, stop_server, wait_until
from tests.support.http import handshake_status, post_json
from tidings_client import ConnectionState, HandshakeError, HttpError, TidingsClient

pytestmark = pytest.mark.e2e

# What every JWT Tidings issues starts with: base64url of {"alg":"HS256","typ":"JWT"}.
JWT_HEADER = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
# Refresh tokens handed out in this module; none may appear in the log.
REFRESH_TOKENS: list[str] = []


@pytest.fixture(scope="module")
def race_server() -> Iterator[tuple[Server, Path]]:
    process, server, log_path = start_server(log_name="tidings-dev-session-races")
    yield server, log_path
    stop_server(process)


@pytest.fixture
def server(race_server: tuple[Server, Path]) -> Server:
    return race_server[0]


def unique_user(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def sign_in(server: Server, user_id: str) -> dict[str, Any]:
    """A local sign-in: an access token and a refresh token (what `tidings session` does)."""
    session: dict[str, Any] = await server.local("POST", "/_local/sessions", {"userId": user_id})
    REFRESH_TOKENS.append(session["refreshToken"])
    return session


async def invocations(server: Server) -> dict[str, int]:
    return (await server.local("GET", "/_local/stats"))["invocations"]


def errors(client: TidingsClient) -> list[str]:
    return [f["payload"]["code"] for f in client.of_type("error")]


def closed(client: TidingsClient) -> bool:
    return client.state is ConnectionState.CLOSED


async def handshake(server: Server, token: str) -> TidingsClient | int:
    """The connected (raw) client, or the status the handshake was refused with."""
    try:
        return await server.connect(token=token, raw=True)
    except HandshakeError as refused:
        return refused.status


# --- the connection limit under concurrent connects -------------------------------------------


async def test_ten_connects_at_once_leave_exactly_five_open_all_reachable_and_revoke_closes_them(server):
    dave = server.token("dave")  # a member of `general`
    clients = list(await asyncio.gather(*[server.connect(token=dave, raw=True) for _ in range(10)]))
    alice = await server.connect("alice", raw=True)
    try:
        # The evicted ones are told and closed: at once, or a moment after their handshake.
        await wait_until(lambda: sum(map(closed, clients)) >= 5, 20, "fewer than 5 were closed")
        await asyncio.sleep(2.0)  # nothing else is closed later
        evicted = [c for c in clients if closed(c)]
        still_open = [c for c in clients if not closed(c)]
        assert (len(evicted), len(still_open)) == (5, 5)
        for client in evicted:
            assert errors(client) == ["CONNECTION_LIMIT"]
            assert client.close_info is not None and client.close_info.by == "server"
            assert client.close_info.code == 1000
        for client in still_open:
            assert errors(client) == []

        content = f"to every open connection {uuid.uuid4()}"
        ack = await alice.request("message.send", {"chatId": "general", "content": content})
        assert ack["payload"]["status"] == "ok", ack
        for client in still_open:
            delivered = await client.wait_for(
                lambda f: f["type"] == "message.new" and f["payload"]["message"]["content"] == content
            )
            assert delivered["payload"]["chatId"] == "general"
        for client in evicted:
            assert not client.of_type("message.new")

        revoked = await server.rest(token=dave).fetch("POST", "/api/auth/revoke")
        assert (revoked.status, revoked.json()) == (200, {"revoked": True})
        for client in still_open:
            await client.wait_for(lambda f: f["type"] == "error" and f["payload"]["code"] == "UNAUTHORIZED")
        await wait_until(lambda: all(map(closed, clients)), 10, "revoke left connections open")
    finally:
        server.tokens.pop("dave", None)  # revoked
        for client in [*clients, alice]:
            await client.close()


# --- revoke during a burst of connects ----------------------------------------------------------


@pytest.mark.parametrize("revoke_after", [0.0, 0.05, 0.2])
async def test_a_revoke_during_a_burst_of_connects_leaves_no_connection_of_the_user_open(server, revoke_after):
    user = unique_user("burst")
    token = server.token(user)

    async def revoke() -> int:
        await asyncio.sleep(revoke_after)
        return (await server.rest(token=token).fetch("POST", "/api/auth/revoke")).status

    *outcomes, revoked = await asyncio.gather(*[handshake(server, token) for _ in range(8)], revoke())
    clients = [outcome for outcome in outcomes if isinstance(outcome, TidingsClient)]
    try:
        assert revoked == 200
        assert all(outcome == 403 for outcome in outcomes if not isinstance(outcome, TidingsClient)), outcomes
        # Every one that opened is told why and closed: at once, or a moment after its handshake.
        await wait_until(lambda: all(map(closed, clients)), 20, "connections of a revoked session stayed open")
        for client in clients:
            # The limit's closer and the revoke's may both reach one connection in the same
            # instant, so it can hear both reasons; it never hears another, nor none.
            told = errors(client)
            assert told and set(told) <= {"UNAUTHORIZED", "CONNECTION_LIMIT"} and len(told) == len(set(told)), told
        # And the token cannot connect any more.
        assert await handshake(server, token) == 403
    finally:
        for client in clients:
            await client.close()


# --- one refresh token used twice at the same moment ----------------------------------------------


def _refresh_together(server: Server, refresh_token: str, uses: int = 2) -> list[tuple[int, dict[str, Any]]]:
    start = threading.Barrier(uses)
    results: list[tuple[int, dict[str, Any]]] = [(0, {})] * uses

    def use(n: int) -> None:
        start.wait()
        results[n] = post_json(f"{server.base_url}/api/auth/refresh", {"refreshToken": refresh_token})

    threads = [threading.Thread(target=use, args=(n,)) for n in range(uses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.parametrize("attempt", range(6))
async def test_two_refreshes_with_one_token_at_once_give_one_200_one_401_and_the_family_is_invalidated(server, attempt):
    session = await sign_in(server, unique_user("refresh"))
    results = await asyncio.to_thread(_refresh_together, server, session["refreshToken"])

    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 401], results
    [winner] = [body for status, body in results if status == 200]
    [loser] = [body for status, body in results if status == 401]
    assert loser["error"]["code"] == "UNAUTHORIZED"
    REFRESH_TOKENS.append(winner["refreshToken"])
    # The reuse invalidated the family: the winner's new refresh token is refused too.
    with pytest.raises(HttpError) as refused:
        await server.rest().refresh(winner["refreshToken"])
    assert (refused.value.status, refused.value.code) == (401, "UNAUTHORIZED")


# --- oversized tokens ---------------------------------------------------------------------------


async def test_oversized_tokens_are_refused_as_api_gateway_refuses_them_and_nothing_runs_behind(server):
    big = server.token("carol") + "A" * 9_000  # a real token's start, 9 KB: within API Gateway's limits
    huge = "A" * 11_000
    before = await invocations(server)

    # The authorizer refuses a token over 8 KiB, as it refuses any bad token.
    assert await handshake_status(server.ws_url, {"Authorization": f"Bearer {big}"}) == 403
    # API Gateway itself refuses before any function: a URL over 4096 characters, a request
    # line and headers over 10240 bytes.
    assert await handshake_status(f"{server.ws_url}?token={big}") == 414
    assert await handshake_status(server.ws_url, {"Authorization": f"Bearer {huge}"}) == 413
    after = await invocations(server)
    assert after.get("Authorizer", 0) == before.get("Authorizer", 0) + 1  # only the 9 KB header
    assert after.get("Connect", 0) == before.get("Connect", 0), "a refused connection stored nothing"

    refused = await server.rest(token=big).fetch("POST", "/api/auth/revoke")
    assert (refused.status, refused.json()["error"]["code"]) == (401, "UNAUTHORIZED")
    assert (await server.rest(token=huge).fetch("POST", "/api/auth/revoke")).status == 413


# --- last: the log --------------------------------------------------------------------------------


async def test_no_token_material_reached_the_runtime_log(race_server):
    """Everything above sent tokens every way a client can (query string, header, auth.renew,
    refresh bodies, oversized, refused, revoked); a few more here, then the log is searched."""
    server, log_path = race_server
    erin = server.token("erin")
    client = await server.connect(token=erin, raw=True, token_in="header")
    try:
        assert (await client.request("auth.renew", {"token": server.token("erin", ttl=900)}))["type"] == "ack"
        assert (await client.request("auth.renew", {"token": erin + "tampered"}))["payload"]["status"] == "error"
    finally:
        await client.close()
    assert await handshake(server, erin[:-4] + "AAAA") == 403  # a bad signature
    await server.rest().refresh((await sign_in(server, "erin"))["refreshToken"])
    await asyncio.sleep(1.0)  # the log is written as it happens; give the last lines a moment

    log = log_path.read_text()
    assert "token refused" in log, "the refusals above were logged (with their reasons)"
    assert JWT_HEADER not in log, "a JWT reached the log"
    for refresh_token in REFRESH_TOKENS:
        assert refresh_token not in log, "a refresh token reached the log"
