"""Protocol version negotiation: the client says `hello` with version 2; a server that speaks
only version 1 answers `error UPGRADE_REQUIRED {supportedVersions: [1]}` and closes, and the
client reconnects saying 1 and keeps speaking it. With no version in common (or none listed)
UPGRADE_REQUIRED still closes the client for good."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tidings_client import Backoff, ClientClosedError, ConnectionState, TidingsClient, UpgradeRequiredError
from tidings_client.testing import FakeClock, FakeServer, message_new, settle

URL = "ws://tidings.test/ws"
BADGE = {"chatId": "c", "unreadCount": 1, "mentionCount": 0, "totalUnreadCount": 1, "totalMentionCount": 0}
TOAST = {"id": "toast-1", "title": "Bob", "body": "hi", "chatId": "c", "messageId": "m-c-1", "count": 1}


def hellos(server: FakeServer) -> list[Any]:
    """The version each connection's `hello` said, in order."""
    return [c.sent_of_type("hello")[0]["payload"]["protocolVersion"] for c in server.connections]


def client_of(server: FakeServer, clock: FakeClock, **options: Any) -> TidingsClient:
    options.setdefault("backoff", Backoff(jitter=False))
    return TidingsClient(URL, "token", clock=clock, transport=server, **options)


async def test_a_version_1_server_is_answered_with_hello_1_at_once(clock: FakeClock):
    server = FakeServer(supported_versions=[1])
    client = client_of(server, clock)
    assert client.protocol_version == 2
    await client.connect()
    assert hellos(server) == [2, 1]
    assert server.connections[0].closed, "the server closed the refused connection"
    assert clock.monotonic() == 0, "no backoff wait before saying 1"
    assert client.state is ConnectionState.CONNECTED and client.closed_error is None
    assert client.protocol_version == 1
    assert client.welcome is not None and client.welcome["protocolVersion"] == 1
    await client.close()


async def test_the_negotiated_version_is_kept_for_every_later_connection(clock: FakeClock):
    server = FakeServer(supported_versions=[1])
    client = client_of(server, clock)
    await client.connect()
    server.supported_versions = None  # the server is upgraded meanwhile: this client stays on 1
    server.current.drop()
    await clock.advance(1)
    assert hellos(server) == [2, 1, 1]
    await clock.advance(2 * 3600)  # and after the planned reconnect before the 2-hour limit
    assert set(hellos(server)[2:]) == {1}
    assert client.protocol_version == 1 and client.state is ConnectionState.CONNECTED
    await client.close()


async def test_a_server_rolled_back_while_connected_gets_version_1_on_the_reconnect(clock: FakeClock):
    server = FakeServer()
    client = client_of(server, clock)
    await client.connect()
    assert client.protocol_version == 2
    server.supported_versions = [1]
    server.current.drop()
    await clock.advance(1)
    assert hellos(server) == [2, 2, 1]
    assert client.protocol_version == 1 and client.state is ConnectionState.CONNECTED
    await client.close()


async def test_on_version_1_the_badge_and_toast_frames_reach_handlers_as_they_come(clock: FakeClock):
    server = FakeServer(supported_versions=[1])
    client = client_of(server, clock)
    seen: list[dict] = []
    for frame_type in ("message.new", "notification.badge", "notification.toast"):
        client.on(frame_type, seen.append)
    await client.connect()
    server.current.push_frame(message_new("c", 1))
    server.current.push("notification.badge", BADGE)
    server.current.push("notification.toast", TOAST)
    await settle()
    assert [f["type"] for f in seen] == ["message.new", "notification.badge", "notification.toast"]
    assert (seen[1]["payload"], seen[2]["payload"]) == (BADGE, TOAST)
    assert set(seen[0]["payload"]) == {"chatId", "seq", "message"}
    await client.close()


async def test_no_version_in_common_is_final(clock: FakeClock):
    server = FakeServer(supported_versions=[3])
    client = client_of(server, clock)
    with pytest.raises(UpgradeRequiredError) as refused:
        await client.connect()
    assert refused.value.supported_versions == [3]
    assert refused.value.upgrade_url == "https://tidings.test/docs/protocol.md"
    await clock.advance(120)
    assert len(server.attempts) == 1
    assert client.state is ConnectionState.CLOSED
    assert isinstance(client.closed_error, UpgradeRequiredError)
    assert client.protocol_version == 2
    await client.close()


async def test_upgrade_required_without_supported_versions_is_final(clock: FakeClock):
    server = FakeServer(supported_versions=[1], list_versions=False)
    client = client_of(server, clock)
    with pytest.raises(UpgradeRequiredError) as refused:
        await client.connect()
    assert refused.value.supported_versions is None
    await clock.advance(120)
    assert len(server.attempts) == 1
    assert client.state is ConnectionState.CLOSED and client.protocol_version == 2
    await client.close()


async def test_a_server_refusing_the_version_it_listed_is_not_asked_again(clock: FakeClock):
    server = FakeServer(supported_versions=[1])
    server.speaks = lambda hello: False  # lists 1, and refuses 1 too
    client = client_of(server, clock)
    with pytest.raises(UpgradeRequiredError):
        await client.connect()
    await clock.advance(120)
    assert hellos(server) == [2, 1]
    assert client.state is ConnectionState.CLOSED
    await client.close()


async def test_servers_disagreeing_about_versions_are_retried_with_backoff(clock: FakeClock):
    """A mixed fleet, each server listing only the version the client did not say: the first
    switch is at once, the next ones wait the backoff (no tight reconnect loop)."""
    server = FakeServer(supported_versions=[1])

    def speaks(hello: dict) -> bool:
        server.supported_versions = [1] if hello["payload"]["protocolVersion"] == 2 else [2]
        return False

    server.speaks = speaks
    client = client_of(server, clock)
    connecting = asyncio.create_task(client.connect())
    await settle()
    assert hellos(server) == [2, 1]
    await clock.advance(1)
    assert hellos(server) == [2, 1, 2]
    await clock.advance(1)
    assert len(server.connections) == 3, "the next switch waits the backoff's next step (2 s)"
    await clock.advance(1)
    assert hellos(server) == [2, 1, 2, 1]
    assert client.state is ConnectionState.CONNECTING
    await client.close()
    with pytest.raises(ClientClosedError):
        await connecting


async def test_a_raw_client_does_not_fall_back(clock: FakeClock):
    server = FakeServer(supported_versions=[1])
    client = client_of(server, clock, raw=True, hello=True)
    with pytest.raises(UpgradeRequiredError):
        await client.connect()
    assert hellos(server) == [2]
    assert client.state is ConnectionState.CLOSED
    await client.close()
