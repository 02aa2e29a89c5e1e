"""Handlers called as Lambda calls them, on moto, with an in-memory @connections API."""

from __future__ import annotations

import pytest

from tests.support.lambdas import LambdaContext, load_function
from tidings import wiring


class FakeConnections:
    """Stands in for the @connections API: records posts; some connections are gone or broken."""

    def __init__(self) -> None:
        self.sent: dict[str, list[str]] = {}
        self.gone: set[str] = set()
        self.broken: set[str] = set()

    def post(self, connection_id: str, data: str) -> bool:
        if connection_id in self.broken:
            raise ConnectionError(f"{connection_id} is unreachable")
        if connection_id in self.gone:
            return False
        self.sent.setdefault(connection_id, []).append(data)
        return True


@pytest.fixture
def connections(aws, monkeypatch) -> FakeConnections:
    fake = FakeConnections()
    _clear_wiring()
    monkeypatch.setattr(wiring, "poster", lambda: fake)
    yield fake
    _clear_wiring()


def _clear_wiring() -> None:
    """Services are built once per container; each test is a new container."""
    for value in vars(wiring).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture(scope="session")
def functions():
    return {
        name: load_function(path)
        for name, path in {
            "connect": "connect/connect.py",
            "disconnect": "connect/disconnect.py",
            "default": "connect/default.py",
            "send": "message/send.py",
            "fanout": "message/fanout.py",
            "events": "message/events.py",
            "typing": "message/typing.py",
            "typing_timers": "message/typing_timers.py",
            "read": "message/read.py",
            "receipts": "message/receipts.py",
            "authorizer": "connect/authorizer.py",
        }.items()
    }
