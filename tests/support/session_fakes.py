"""Stand-ins for the session's ports: a clock, a timer queue and an @connections API that
record what happened, in order."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tidings.sessions.token_expiry import TokenTimer


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class RecordingQueue:
    scheduled: list[tuple[TokenTimer, int]] = field(default_factory=list)

    def schedule(self, timer: TokenTimer, delay_seconds: int) -> None:
        self.scheduled.append((timer, delay_seconds))


@dataclass
class RecordingPoster:
    """Records ("post", id, frame) and ("close", id) in the order they happen.

    A connection in `connecting` is still inside its `$connect`: like API Gateway, PostToConnection
    and DeleteConnection answer 410 for it, and it opens all the same once taken out."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)
    connecting: set[str] = field(default_factory=set)

    def post(self, connection_id: str, data: str) -> bool:
        if connection_id in self.broken:
            raise ConnectionError(f"{connection_id} is unreachable")
        if connection_id in self.gone or connection_id in self.connecting:
            return False
        self.calls.append(("post", connection_id, json.loads(data)))
        return True

    def close(self, connection_id: str) -> bool:
        if connection_id in self.gone or connection_id in self.connecting:
            return False
        self.calls.append(("close", connection_id))
        self.gone.add(connection_id)
        return True

    def frames(self, connection_id: str) -> list[dict[str, Any]]:
        return [call[2] for call in self.calls if call[0] == "post" and call[1] == connection_id]

    def closed(self) -> list[str]:
        return [call[1] for call in self.calls if call[0] == "close"]
