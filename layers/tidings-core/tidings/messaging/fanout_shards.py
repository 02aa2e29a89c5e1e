"""Sharded fan-out of big chats (docs/architecture.md "Fan-out", "Big chats").

A chat event whose audience is more than `SHARD_ABOVE_CONNECTIONS` connections is not posted by
the Delivery consumer: one invocation posting 10,000 frames would outlast its timeout and hold
up every chat behind it on the stream shard. Its connections are cut into shards of
`SHARD_CONNECTIONS`, each a `Redelivery` at attempt 1 on the `FanoutShards` queue, and the
fan-out workers post them in parallel through `Deliveries`, so each connection's failures are
retried alone (the delivery retry queue) and a gone connection is forgotten, as for any other
delivery.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from tidings.kernel.connections_api import Redelivery
from tidings.kernel.delay_queue import json_codec

# Above this many connections a chat event is sharded; each shard holds at most SHARD_CONNECTIONS:
# 250 posts at 16 at a time are 16 rounds of one PostToConnection (~20 ms each), about 0.3 s.
SHARD_ABOVE_CONNECTIONS = 500
SHARD_CONNECTIONS = 250

SHARD_JOBS = json_codec(Redelivery.to_body, lambda body: Redelivery.from_body(body, first_attempt=1))


class ShardQueue(Protocol):
    def schedule_all(self, jobs: Iterable[Redelivery], delay_seconds: int = 0) -> None:
        """Puts every shard on the queue. Raises if the queue cannot take them all (the
        caller's record is then retried whole)."""


def shard_jobs(targets: Sequence[tuple[str, Sequence[str]]], trace_id: str | None) -> list[Redelivery]:
    """`targets` (connection, its frames in order) as shard jobs: the connections owed the same
    frames together, in order, at most SHARD_CONNECTIONS a job."""
    by_frames: dict[tuple[str, ...], list[str]] = {}
    for connection_id, frames in targets:
        by_frames.setdefault(tuple(frames), []).append(connection_id)
    return [
        Redelivery(tuple(ids[start : start + SHARD_CONNECTIONS]), frames, attempt=1, trace_id=trace_id)
        for frames, ids in by_frames.items()
        for start in range(0, len(ids), SHARD_CONNECTIONS)
    ]
