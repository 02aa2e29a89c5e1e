"""Search as the e2e tests wait for it: indexing is asynchronous, so a test polls the SDK's
`search()` until the answer is the one it expects, never sleeping a guessed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tidings_client import TidingsClient, TidingsError

POLL_SECONDS = 0.3  # below the 5/s search limit
CEILING_SECONDS = 15.0


async def search_until(
    client: TidingsClient, query: str, done: Callable[[dict], bool], timeout: float = CEILING_SECONDS, **fields: Any
) -> dict:
    """Searches until `done(payload)`; fails with the last answer after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        wait = POLL_SECONDS
        try:
            last: Any = await client.search(query, **fields)
            if done(last):
                return last
        except TidingsError as refused:  # RATE_LIMITED, say: wait as long as it asks
            last = refused.frame
            wait = refused.retry_after_ms / 1000 if refused.retry_after_ms else POLL_SECONDS
        if time.monotonic() > deadline:
            raise AssertionError(f"search {query!r} never satisfied the condition; last answer: {last}")
        await asyncio.sleep(wait)
