"""`bounded_map`: independent calls to AWS made a bounded number at a time.

A Lambda spends a fan-out waiting on the network (a PostToConnection, a DynamoDB write), not
computing, so threads shorten it by as much as they overlap. The bound is the client's connection
pool: botocore keeps `max_pool_connections` (10 unless told more) per client, and a call beyond
them opens a connection only to throw it away."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(call: Callable[[T], R], items: Sequence[T], concurrency: int, name: str) -> list[R]:
    """`call` on each item, at most `concurrency` at once, results in the items' order; the
    first exception raised is raised once every call has ended. One item runs in this thread."""
    if len(items) <= 1:
        return [call(item) for item in items]
    with ThreadPoolExecutor(min(concurrency, len(items)), thread_name_prefix=name) as pool:
        # Not `pool.map`: reading its results stops at the first exception and cancels the calls
        # no thread has picked up yet, so some recipients would be skipped while others were done.
        futures = [pool.submit(call, item) for item in items]
        wait(futures)
    return [future.result() for future in futures]
