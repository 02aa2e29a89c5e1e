"""Token expiry, enforced with serverless timers: a delay queue.

Each connection has one live timer chain, keyed by the token expiry it was armed for:

1. `refresh`, due `REFRESH_LEAD_SECONDS` before the expiry: sends `token.refresh {expiresAt}`
   and chains the `expire` timer;
2. `expire`, due at the expiry: sends `error UNAUTHORIZED` and closes the connection.

A queue delays a message by at most 15 minutes, so a timer that is not due yet when it arrives
re-enqueues itself for the remainder. `auth.renew` moves the connection's expiry and arms a new
chain; a timer whose expiry no longer matches the connection's is stale and does nothing, as is
one whose connection is gone. Timers never sleep: waiting is the queue's job.

The same queue carries `PendingClose`s: closes that met a connection still inside its handshake
(`connections.Disconnector`), tried again a second later.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Literal, Protocol

from tidings.kernel.connections_api import ConnectionPoster
from tidings.kernel.errors import ErrorCode
from tidings.kernel.observability import logger, metrics
from tidings.kernel.wire import encode
from tidings.sessions.connections import (
    CloseOutcome,
    ConnectionState,
    ConnectionStore,
    Disconnector,
    PendingClose,
    may_be_in_handshake,
)
from tidings.sessions.wire import token_refresh_frame

# token.refresh must arrive at least 60 s before the expiry; 70 s leaves 10 s for the queue's
# and the consumer's latency.
REFRESH_LEAD_SECONDS = 70
MAX_DELAY_SECONDS = 900  # SQS's limit on a message's DelaySeconds

TimerKind = Literal["refresh", "expire"]


@dataclass(frozen=True)
class TokenTimer:
    kind: TimerKind
    connection_id: str
    token_expires_at: int  # the expiry this timer was armed for (epoch seconds)
    due_at: int  # epoch seconds


class TimerQueue(Protocol):
    def schedule(self, timer: TokenTimer | PendingClose, delay_seconds: int) -> None: ...


class Action(StrEnum):
    DROP = "drop"  # the connection is gone, or its token was renewed
    WAIT = "wait"  # not due yet: re-enqueue for the remainder
    REFRESH = "refresh"  # send token.refresh, chain the expire timer
    EXPIRE = "expire"  # send error UNAUTHORIZED, close


def refresh_due_at(token_expires_at: int) -> int:
    return token_expires_at - REFRESH_LEAD_SECONDS


def decide(timer: TokenTimer, connection: ConnectionState | None, now: float) -> Action:
    if connection is None or connection.token_expires_at != timer.token_expires_at:
        return Action.DROP
    if now >= timer.token_expires_at:
        return Action.EXPIRE  # whatever the kind: a late refresh timer has nothing left to warn of
    if now < timer.due_at:
        return Action.WAIT
    return Action.REFRESH if timer.kind == "refresh" else Action.EXPIRE


def delay_until(due_at: float, now: float, min_delay_seconds: int = 0) -> int:
    """The queue delay for a timer due at `due_at`: whole seconds, rounded up so it never
    arrives early, capped at the queue's maximum (the timer then re-enqueues itself)."""
    return max(min_delay_seconds, min(MAX_DELAY_SECONDS, math.ceil(due_at - now)))


@dataclass(frozen=True, eq=False)
class TokenTimerService:
    connections: ConnectionStore
    queue: TimerQueue
    poster: ConnectionPoster
    now: Callable[[], float]

    @cached_property
    def _disconnector(self) -> Disconnector:
        return Disconnector(self.connections, self.poster, self.queue, self.now)

    def arm(self, connection_id: str, token_expires_at: int, *, min_delay_seconds: int = 0) -> TokenTimer:
        """Arms the chain for a token expiring at `token_expires_at`. A token that expires
        within the lead gets its `token.refresh` at once."""
        now = self.now()
        timer = TokenTimer("refresh", connection_id, token_expires_at, refresh_due_at(token_expires_at))
        self.queue.schedule(timer, delay_until(timer.due_at, now, min_delay_seconds))
        return timer

    def fire(self, timer: TokenTimer | PendingClose) -> Action | CloseOutcome:
        """Handles one arrived timer; returns what it did. Failures of the @connections API
        raise, so the queue redelivers the timer."""
        if isinstance(timer, PendingClose):
            return self._disconnector.attempt(timer)
        connection = self.connections.get(timer.connection_id)
        now = self.now()
        action = decide(timer, connection, now)
        if action is Action.WAIT:
            self.queue.schedule(timer, delay_until(timer.due_at, now))
        elif action is Action.REFRESH:
            assert connection is not None
            if not self.poster.post(timer.connection_id, encode(token_refresh_frame(timer.token_expires_at))):
                return self._unreachable(timer, connection, now)
            expire = TokenTimer("expire", timer.connection_id, timer.token_expires_at, timer.token_expires_at)
            self.queue.schedule(expire, delay_until(expire.due_at, now))
            metrics.add_metric(name="TokenRefreshesSent", unit="Count", value=1)
        elif action is Action.EXPIRE:
            self._disconnector.close_with_error(
                timer.connection_id,
                ErrorCode.UNAUTHORIZED,
                "The access token expired; reconnect with a new token",
            )
            metrics.add_metric(name="ConnectionsExpired", unit="Count", value=1)
        logger.debug(
            "token timer", extra={"connectionId": timer.connection_id, "kind": timer.kind, "action": action.value}
        )
        return action

    def _unreachable(self, timer: TokenTimer, connection: ConnectionState, now: float) -> Action:
        """The connection answered 410. Right after `$connect` its handshake may not have
        completed yet, so it is tried again a second later; otherwise it is gone for good."""
        if may_be_in_handshake(connection.connected_at_ms, now):
            self.queue.schedule(timer, 1)
            return Action.WAIT
        self.connections.remove(timer.connection_id, connection.user_id)
        return Action.DROP
