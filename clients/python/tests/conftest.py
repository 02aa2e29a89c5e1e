"""Fixtures of the SDK's tests: a fake clock and an in-memory server for the unit tests (no
real sleeping), and a real `tidings dev` subprocess per module for the end-to-end ones."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tidings_client import Backoff, TidingsClient
from tidings_client.testing import FakeClock, FakeServer

URL = "ws://tidings.test/ws"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
async def make_client(clock: FakeClock, server: FakeServer) -> AsyncIterator[Callable[..., TidingsClient]]:
    """A factory for clients on the fake clock and server; all are closed after the test."""
    clients: list[TidingsClient] = []

    def make(token: Any = "token-1", **options: Any) -> TidingsClient:
        options.setdefault("backoff", Backoff(jitter=False))
        client = TidingsClient(URL, token, clock=clock, transport=server, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
