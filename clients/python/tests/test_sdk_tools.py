"""Raw mode, the frame log and its waits, and the token refresher."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from tidings_client import (
    ClientClosedError,
    ConnectionState,
    HandshakeError,
    RequestTimeoutError,
    TidingsClient,
    TokenRefresher,
    derive_api_url,
    jwt_expiry,
)
from tidings_client.testing import FakeClock, FakeServer, message_new, settle


def jwt(exp: float) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part({'sub': 'alice', 'exp': exp})}.signature"


async def test_raw_mode_sends_no_hello_and_does_not_reconnect(clock: FakeClock, server: FakeServer):
    client = TidingsClient("ws://x/ws", "t", raw=True, clock=clock, transport=server)
    await client.connect()
    assert client.state is ConnectionState.CONNECTED
    assert server.current.received == []
    hello = await client.request("hello", {"protocolVersion": 7}, id="h-1")
    assert hello["type"] == "welcome" and hello["payload"]["refId"] == "h-1"
    await client.send_raw("not json")
    assert server.current.texts[-1] == "not json"
    # Chat events are delivered as they arrive, unordered.
    seen = []
    client.on("message.new", seen.append)
    for seq in (3, 1):
        server.current.push_frame(message_new("c", seq))
    await settle()
    assert [f["payload"]["seq"] for f in seen] == [3, 1]
    server.current.drop()
    info = await client.wait_closed(timeout=1)
    assert info.code == 1000 and info.by == "server"
    await clock.advance(60)
    assert len(server.attempts) == 1
    assert client.state is ConnectionState.CLOSED
    with pytest.raises(ClientClosedError):
        await client.request("ping", {})
    await client.close()


async def test_raw_mode_reports_the_error_frame_before_the_close(clock: FakeClock, server: FakeServer):
    client = TidingsClient("ws://x/ws", "t", raw=True, clock=clock, transport=server)
    await client.connect()
    server.current.push("error", {"code": "CONNECTION_LIMIT", "message": "Too many"})
    server.current.drop()
    info = await client.wait_closed(timeout=1)
    assert info.error is not None and info.error.code == "CONNECTION_LIMIT"
    await client.close()


async def test_raw_mode_reports_a_refused_handshake_with_its_status(clock: FakeClock, server: FakeServer):
    # A normal client takes a 403 as "get a fresh token"; a raw one says what the server said.
    server.refuse(403, times=2)
    client = TidingsClient("ws://x/ws", "t", raw=True, clock=clock, transport=server)
    with pytest.raises(HandshakeError) as refused:
        await client.connect()
    assert refused.value.status == 403
    assert client.state is ConnectionState.CLOSED and client.closed_error is refused.value
    assert len(server.attempts) == 1
    await client.close()


async def test_raw_mutations_are_sent_once(clock: FakeClock, server: FakeServer):
    client = TidingsClient("ws://x/ws", "t", raw=True, clock=clock, transport=server, request_timeout=5)
    await client.connect()
    sending = asyncio.create_task(client.send("c", "once"))
    await clock.advance(5)
    with pytest.raises(RequestTimeoutError):
        await sending
    assert len(server.current.sent_of_type("message.send")) == 1
    await client.close()


async def test_wait_for_matches_logged_and_future_frames(make_client, server: FakeServer):
    client = make_client()
    await client.connect()
    server.current.push("notification.badge", {"chatId": "a", "unreadCount": 1})
    await settle()
    assert (await client.wait_for("notification.badge"))["payload"]["chatId"] == "a"
    mark = client.mark()
    waiting = asyncio.create_task(
        client.wait_for("notification.badge", lambda f: f["payload"]["unreadCount"] > 1, after=mark)
    )
    server.current.push("notification.badge", {"chatId": "b", "unreadCount": 1})
    server.current.push("notification.badge", {"chatId": "c", "unreadCount": 2})
    assert (await waiting)["payload"]["chatId"] == "c"
    # A predicate that trips over a frame of another shape is just not a match.
    assert (await client.wait_for(lambda f: f["payload"]["unreadCount"] == 2))["payload"]["chatId"] == "c"
    assert [f["payload"]["chatId"] for f in client.of_type("notification.badge")] == ["a", "b", "c"]


async def test_the_frame_log_reads_from_a_mark(make_client, server: FakeServer):
    client = make_client()
    await client.connect()
    server.current.push("notification.badge", {"chatId": "a", "unreadCount": 1})
    await settle()
    mark = client.mark()
    server.current.push("notification.toast", {"chatId": "b"})
    server.current.push("notification.badge", {"chatId": "c", "unreadCount": 2})
    await settle()
    assert [f["payload"]["chatId"] for f in client.frames_after(mark)] == ["b", "c"]
    assert [f["payload"]["chatId"] for f in client.of_type("notification.badge", after=mark)] == ["c"]
    assert [f["payload"]["chatId"] for f in client.of_type("notification.badge")] == ["a", "c"]
    assert client.frames_after(None) == client.frames
    assert client.frames_after(client.mark()) == []


async def test_wait_for_waits_for_the_clients_wait_timeout_by_default(make_client, clock: FakeClock):
    client = make_client(wait_timeout=30)
    await client.connect()
    waiting = asyncio.create_task(client.wait_for("never"))
    await clock.advance(29)
    assert not waiting.done()
    await clock.advance(1)
    with pytest.raises(RequestTimeoutError):
        await waiting


async def test_wait_for_times_out_on_the_clients_clock(make_client, clock: FakeClock):
    client = make_client()
    await client.connect()
    waiting = asyncio.create_task(client.wait_for("never", timeout=3))
    await clock.advance(3)
    with pytest.raises(RequestTimeoutError):
        await waiting


def test_jwt_expiry_reads_the_exp_claim():
    assert jwt_expiry(jwt(1234)) == 1234
    assert jwt_expiry("not-a-jwt") is None


def test_the_rest_url_is_derived_from_a_local_websocket_url():
    assert derive_api_url("ws://127.0.0.1:8080/ws") == "http://127.0.0.1:8080"
    assert derive_api_url("wss://example.com/chat/ws?x=1") == "https://example.com/chat"
    assert derive_api_url("wss://abc.execute-api.eu-west-1.amazonaws.com/prod") is None


class FakeRest:
    def __init__(self, now: float) -> None:
        self.now = now
        self.calls: list[str] = []

    async def refresh(self, refresh_token: str) -> dict:
        self.calls.append(refresh_token)
        await asyncio.sleep(0)
        number = len(self.calls)
        return {"token": jwt(self.now + 900), "refreshToken": f"r{number + 1}", "expiresAt": "..."}


async def test_the_token_refresher_refreshes_only_near_expiry_and_rotates():
    now = 1_800_000_000.0
    rest = FakeRest(now)
    rotated: list[dict] = []
    refresher = TokenRefresher(rest, "r1", token=jwt(now + 600), clock=lambda: now, on_rotate=rotated.append)  # type: ignore[arg-type]
    assert await refresher() == jwt(now + 600)  # 10 minutes left: kept
    assert rest.calls == []
    refresher.token = jwt(now + 70)  # as when the server sends token.refresh
    tokens = await asyncio.gather(refresher(), refresher(), refresher())
    assert rest.calls == ["r1"]  # concurrent callers share one refresh (the old token is spent)
    assert set(tokens) == {jwt(now + 900)}
    assert refresher.refresh_token == "r2"
    assert rotated[0]["refreshToken"] == "r2"


async def test_the_token_refresher_without_a_token_refreshes_at_once():
    rest = FakeRest(1_800_000_000.0)
    refresher = TokenRefresher.from_session(rest, {"refreshToken": "r1"})  # type: ignore[arg-type]
    assert await refresher()
    assert rest.calls == ["r1"]
