"""Handlers called as Lambda calls them, on moto, with an in-memory @connections API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.aws import declare_environment
from tests.support.lambdas import LambdaContext, load_function
from tidings.kernel import connections_api, ratelimits
from tidings.kernel.environment import ColdStart


class FakeConnections:
    """Stands in for the @connections API: records posts; some connections are gone, broken,
    or throttled (429 LimitExceededException, as `ApiGatewayPoster` reports it)."""

    def __init__(self) -> None:
        self.sent: dict[str, list[str]] = {}
        self.gone: set[str] = set()
        self.broken: set[str] = set()
        self.throttled: set[str] = set()
        self.closed: list[str] = []

    def post(self, connection_id: str, data: str) -> bool:
        if connection_id in self.broken:
            raise ConnectionError(f"{connection_id} is unreachable")
        if connection_id in self.throttled:
            raise connections_api.PostFailed(
                "PostToConnection failed: 429 LimitExceededException", retryable=True, throttled=True
            )
        if connection_id in self.gone:
            return False
        self.sent.setdefault(connection_id, []).append(data)
        return True

    def close(self, connection_id: str) -> bool:
        """DeleteConnection: the connection is gone afterwards."""
        if connection_id in self.broken:
            raise ConnectionError(f"{connection_id} is unreachable")
        if connection_id in self.gone:
            return False
        self.closed.append(connection_id)
        self.gone.add(connection_id)
        return True


@pytest.fixture
def connections(aws, signing_key, monkeypatch) -> Iterator[FakeConnections]:
    """The declared environment on moto, with an in-memory @connections API; every handler
    starts cold (each test is a new container)."""
    fake = FakeConnections()
    declare_environment(monkeypatch)
    ColdStart.forget_all()
    monkeypatch.setattr(connections_api, "poster", lambda environment: fake)
    yield fake
    ColdStart.forget_all()


@pytest.fixture
def frozen_rate_limits(connections, monkeypatch) -> None:
    """Rate-limit buckets that do not refill while the test runs, however slow the machine."""
    from tidings.kernel.ratelimits import DynamoBucketStore, RateLimiter

    limiter = RateLimiter(DynamoBucketStore(), now=lambda: 1_000_000.0)
    monkeypatch.setattr(ratelimits, "rate_limiter", lambda environment: limiter)
    ColdStart.forget_all()


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture(scope="session")
def functions():
    return {
        name: load_function(path)
        for name, path in {
            "connect": "sessions/connect.py",
            "disconnect": "sessions/disconnect.py",
            "default": "sessions/default_route.py",
            "send": "messaging/message_send.py",
            "delivery": "messaging/delivery_consumer.py",
            "notify_retry": "notifications/notify_retries.py",
            "delivery_retry": "messaging/delivery_retries.py",
            "fanout_worker": "messaging/fanout_worker.py",
            "events": "messaging/chat_event_frames.py",
            "typing": "messaging/typing_frames.py",
            "typing_timers": "messaging/typing_timers.py",
            "read": "messaging/read_mark.py",
            "receipts": "messaging/receipts_consumer.py",
            "authorizer": "sessions/authorizer.py",
            "session": "sessions/session_frames.py",
            "session_timers": "sessions/token_timers.py",
            "auth_api": "sessions/auth_api.py",
        }.items()
    }
