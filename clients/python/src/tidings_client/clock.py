"""Time, injectable: every timer in the client (backoff, heartbeat, ack retries, rate limits,
debounces) goes through a `Clock`, so tests drive time instead of sleeping
(`tidings_client.testing.FakeClock`)."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for intervals)."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the epoch (for token expiry)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
