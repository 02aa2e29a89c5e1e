"""Connection lifecycle on a fake server and clock: hello, backoff, heartbeat, the 2-hour
limit, closing errors and token renewal."""

from __future__ import annotations

import random

import pytest

from tidings_client import (
    Backoff,
    ConnectionLimitError,
    ConnectionState,
    TidingsClient,
    UnauthorizedError,
    UpgradeRequiredError,
    __version__,
)
from tidings_client.testing import FakeClock, FakeServer, settle


async def test_hello_is_the_first_frame_of_every_connection(make_client, server: FakeServer, clock: FakeClock):
    client = make_client("jwt-abc")
    await client.connect()
    first = server.current.received[0]
    assert first["type"] == "hello"
    assert first["payload"] == {"protocolVersion": 2, "client": f"tidings-python/{__version__}"}
    assert server.current.headers["Authorization"] == "Bearer jwt-abc"
    assert client.state is ConnectionState.CONNECTED
    assert client.connection_id == "conn-0"

    server.current.drop()
    await clock.advance(1)
    assert len(server.connections) == 2
    assert server.current.received[0]["type"] == "hello"


async def test_token_in_the_query_string_when_asked(make_client, server: FakeServer):
    client = make_client("a b", token_in="query")
    await client.connect()
    assert server.current.url.endswith("/ws?token=a%20b")
    assert "Authorization" not in server.current.headers


async def test_states_are_reported_in_order(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    seen: list[tuple[str, str]] = []
    client.on_state(lambda new, old: seen.append((old.value, new.value)))
    await client.connect()
    server.current.drop()
    await settle()
    await clock.advance(1)
    await client.close()
    assert seen == [
        ("connecting", "connected"),
        ("connected", "reconnecting"),
        ("reconnecting", "connected"),
        ("connected", "closed"),
    ]


async def test_reconnect_backoff_is_1_2_4_8_16_30_seconds(make_client, server: FakeServer, clock: FakeClock):
    client = make_client(backoff=Backoff(jitter=False))
    await client.connect()
    server.unreachable(times=7)
    server.current.drop()
    await settle()
    attempt_times = []
    for _ in range(200):
        before = len(server.attempts)
        await clock.advance(1)
        if len(server.attempts) > before:
            attempt_times.append(clock.monotonic())
        if len(server.connections) == 2:
            break
    # Attempt n waits steps[n] after the previous failure: 1, 2, 4, 8, 16, 30, 30, then connects.
    assert attempt_times == [1, 3, 7, 15, 31, 61, 91, 121]
    assert client.state is ConnectionState.CONNECTED


def test_full_jitter_draws_between_zero_and_the_step():
    rng = random.Random(7)
    backoff = Backoff(rng=rng)
    for attempt, ceiling in enumerate([1, 2, 4, 8, 16, 30, 30, 30]):
        draws = [backoff.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling * 0.8 and min(draws) < ceiling * 0.2  # spread over the whole range
    assert Backoff([0.5, 2], jitter=False).delay(5) == 2


async def test_the_backoff_starts_again_after_a_successful_connection(
    make_client, server: FakeServer, clock: FakeClock
):
    client = make_client(backoff=Backoff(jitter=False))
    await client.connect()
    server.unreachable(times=2)
    server.current.drop()
    await clock.advance(1 + 2 + 4)
    assert len(server.connections) == 2
    server.current.drop()
    await settle()
    await clock.advance(1)  # the first step again, not 8
    assert len(server.connections) == 3
    assert client.state is ConnectionState.CONNECTED


async def test_a_ping_every_30_seconds_and_a_reconnect_after_90_without_pong(
    make_client, server: FakeServer, clock: FakeClock
):
    server.auto_pong = False
    client = make_client()
    await client.connect()
    first = server.current
    await clock.advance(89)
    assert len(first.sent_of_type("ping")) == 2  # at 30 s and 60 s
    assert not first.closed
    await clock.advance(1)
    assert first.closed  # 90 s without a pong: the link is dead
    await clock.advance(1)
    assert len(server.connections) == 2
    assert client.state is ConnectionState.CONNECTED


async def test_pongs_keep_the_connection(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    await client.connect()
    await clock.advance(600)
    assert len(server.connections) == 1
    assert len(server.current.sent_of_type("ping")) == 20
    assert client.state is ConnectionState.CONNECTED


async def test_the_welcome_sets_the_heartbeat_interval(make_client, server: FakeServer, clock: FakeClock):
    server.heartbeat_interval_ms = 10_000
    client = make_client()
    await client.connect()
    await clock.advance(30)
    assert len(server.current.sent_of_type("ping")) == 3


async def test_reconnects_at_once_before_the_two_hour_limit(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    await client.connect()
    await clock.advance(2 * 3600 - 5 * 60 - 1)
    assert len(server.connections) == 1
    await clock.advance(1)
    assert server.connections[0].closed
    assert len(server.connections) == 2  # no backoff for a planned reconnect
    assert client.state is ConnectionState.CONNECTED


async def test_unauthorized_gets_a_fresh_token_and_reconnects_once(make_client, server: FakeServer, clock: FakeClock):
    tokens = iter(["t1", "t2", "t3"])
    client = make_client(lambda: next(tokens))
    await client.connect()
    server.current.push("error", {"code": "UNAUTHORIZED", "message": "Token expired"})
    server.current.drop()
    await settle()
    assert len(server.connections) == 2  # at once: no backoff
    assert server.current.headers["Authorization"] == "Bearer t2"
    assert client.state is ConnectionState.CONNECTED

    # Refused again with the fresh token (a revoked session): closed for good.
    server.refuse(403)
    server.current.push("error", {"code": "UNAUTHORIZED", "message": "Session revoked"})
    server.current.drop()
    await settle()
    await clock.advance(60)
    assert client.state is ConnectionState.CLOSED
    assert isinstance(client.closed_error, UnauthorizedError)
    assert len(server.attempts) == 3


async def test_a_refused_handshake_is_retried_once_with_a_fresh_token(make_client, server: FakeServer):
    calls = []

    def get_token() -> str:
        calls.append(1)
        return f"t{len(calls)}"

    server.refuse(403)
    client = make_client(get_token)
    await client.connect()
    assert server.current.headers["Authorization"] == "Bearer t2"


async def test_a_token_refused_twice_fails_connect(make_client, server: FakeServer):
    server.refuse(401, times=2)
    client = make_client()
    with pytest.raises(UnauthorizedError):
        await client.connect()
    assert client.state is ConnectionState.CLOSED


async def test_connection_limit_closes_for_good(make_client, server: FakeServer, clock: FakeClock):
    client = make_client()
    await client.connect()
    server.current.push("error", {"code": "CONNECTION_LIMIT", "message": "Too many connections"})
    server.current.drop()
    await clock.advance(120)
    assert client.state is ConnectionState.CLOSED
    assert isinstance(client.closed_error, ConnectionLimitError)
    assert len(server.attempts) == 1


async def test_a_closing_error_without_the_close_is_closed_by_the_client(
    make_client, server: FakeServer, clock: FakeClock
):
    client = make_client()
    await client.connect()
    server.current.push("error", {"code": "CONNECTION_LIMIT", "message": "Too many connections"})
    await clock.advance(5)
    assert server.current.closed
    assert client.state is ConnectionState.CLOSED


async def test_upgrade_required_fails_connect(clock: FakeClock):
    server = FakeServer(auto_welcome=False)
    client = TidingsClient("ws://x/ws", "t", clock=clock, transport=server)

    async def refuse_hello() -> None:
        connection = await server.next_connection(0)
        hello = await connection.receive("hello")
        connection.reply(hello, "error", {"code": "UPGRADE_REQUIRED", "message": "speak 2", "upgradeUrl": "https://x"})
        connection.drop()

    import asyncio

    refusing = asyncio.create_task(refuse_hello())
    with pytest.raises(UpgradeRequiredError):
        await client.connect()
    await refusing
    assert client.state is ConnectionState.CLOSED
    await client.close()


async def test_token_refresh_is_answered_with_auth_renew(make_client, server: FakeServer):
    tokens = iter(["old", "new"])
    client = make_client(lambda: next(tokens))
    await client.connect()
    server.current.push("token.refresh", {"expiresAt": "2027-01-01T00:00:00.000Z"})
    renew = await server.current.receive("auth.renew")
    assert renew["payload"] == {"token": "new"}
    server.current.ack(renew, expiresAt="2027-01-01T00:15:00.000Z")
    await settle()
    assert len(server.connections) == 1


async def test_async_token_sources_are_awaited(make_client, server: FakeServer):
    async def get_token() -> str:
        return "async-token"

    client = make_client(get_token)
    await client.connect()
    assert server.current.headers["Authorization"] == "Bearer async-token"


async def test_connect_keeps_trying_while_the_server_is_unreachable(make_client, server: FakeServer, clock: FakeClock):
    import asyncio

    server.unreachable(times=3)
    client = make_client()
    connecting = asyncio.create_task(client.connect())
    await clock.advance(1 + 2 + 4)
    await connecting
    assert client.state is ConnectionState.CONNECTED


async def test_a_server_not_ready_is_retried_with_backoff(make_client, server: FakeServer, clock: FakeClock):
    import asyncio

    server.refuse(503, times=2)  # tidings dev answers 503 until every part is up
    client = make_client()
    connecting = asyncio.create_task(client.connect())
    await clock.advance(1)
    assert len(server.attempts) == 2 and client.state is ConnectionState.CONNECTING
    await clock.advance(2)
    await connecting
    assert client.state is ConnectionState.CONNECTED
