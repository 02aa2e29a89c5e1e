"""Handlers called as Lambda calls them, on moto, with an in-memory @connections API."""

from __future__ import annotations

import boto3
import pytest

from tests.support.lambdas import LambdaContext, load_function
from tidings import wiring
from tidings.settings import settings


class FakeConnections:
    """Stands in for the @connections API: records posts; some connections are gone or broken."""

    def __init__(self) -> None:
        self.sent: dict[str, list[str]] = {}
        self.gone: set[str] = set()
        self.broken: set[str] = set()
        self.closed: list[str] = []

    def post(self, connection_id: str, data: str) -> bool:
        if connection_id in self.broken:
            raise ConnectionError(f"{connection_id} is unreachable")
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
def connections(aws, monkeypatch) -> FakeConnections:
    fake = FakeConnections()
    # $connect arms a token timer, so every handler test has the TokenTimers queue.
    monkeypatch.setenv("TOKEN_TIMERS_QUEUE_URL", boto3.client("sqs").create_queue(QueueName="token-timers")["QueueUrl"])
    # The Notify consumer queues push jobs for offline recipients.
    monkeypatch.setenv("PUSH_JOBS_QUEUE_URL", boto3.client("sqs").create_queue(QueueName="push-jobs")["QueueUrl"])
    # Stream consumers hand connections that fail to the delivery retry queue.
    monkeypatch.setenv(
        "DELIVERY_RETRIES_QUEUE_URL", boto3.client("sqs").create_queue(QueueName="delivery-retries")["QueueUrl"]
    )
    settings.cache_clear()
    _clear_wiring()
    monkeypatch.setattr(wiring, "poster", lambda: fake)
    yield fake
    _clear_wiring()
    settings.cache_clear()


def _clear_wiring() -> None:
    """Services are built once per container; each test is a new container."""
    for value in vars(wiring).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


@pytest.fixture
def frozen_rate_limits(connections, monkeypatch) -> None:
    """Rate-limit buckets that do not refill while the test runs, however slow the machine."""
    from tidings.domain.ratelimits import RateLimiter
    from tidings.storage.ratelimits import DynamoBucketStore

    limiter = RateLimiter(DynamoBucketStore(), now=lambda: 1_000_000.0)
    monkeypatch.setattr(wiring, "rate_limiter", lambda: limiter)
    _clear_wiring()


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
            "delivery_retry": "message/delivery_retry.py",
            "events": "message/message_events.py",
            "typing": "message/typing_frames.py",
            "typing_timers": "message/typing_timers.py",
            "read": "message/read.py",
            "receipts": "message/receipts.py",
            "authorizer": "connect/authorizer.py",
            "session": "connect/session.py",
            "session_timers": "connect/timers.py",
            "auth_api": "connect/auth_api.py",
        }.items()
    }
