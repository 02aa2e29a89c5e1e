"""EventBridge schedules, emulated: each declared `Schedule` invokes its function every
`rate_seconds` with a `Scheduled Event`, as an EventBridge rule with a rate expression does.

Invocations are asynchronous on AWS: a slow run does not delay the next tick, and a failure is
only logged here (EventBridge would retry it twice).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from tidings.kernel.declaration import Application, Schedule
from tidings_local.aws import ACCOUNT_ID, region
from tidings_local.lambdas import Lambdas
from tidings_local.log import logger


def scheduled_event(application: Application, schedule: Schedule) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region(),
        "resources": [f"arn:aws:events:{region()}:{ACCOUNT_ID}:rule/{application.name}-{schedule.id}"],
        "detail": {},
    }


class Scheduler:
    """Fires one schedule until cancelled."""

    def __init__(self, application: Application, schedule: Schedule, lambdas: Lambdas) -> None:
        self.application = application
        self.schedule = schedule
        self._lambdas = lambdas
        self._runs: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        next_tick = time.monotonic() + self.schedule.rate_seconds
        try:
            while True:
                await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
                next_tick += self.schedule.rate_seconds
                run = asyncio.create_task(self._invoke())
                self._runs.add(run)
                run.add_done_callback(self._runs.discard)
        finally:
            for run in self._runs:
                run.cancel()

    async def _invoke(self) -> None:
        try:
            await self._lambdas.invoke(self.schedule.function, scheduled_event(self.application, self.schedule))
        except Exception as exc:
            logger.warning(
                "scheduled invocation failed",
                extra={
                    "schedule": self.schedule.id,
                    "function": self.schedule.function.id,
                    "error": type(exc).__name__,
                },
            )
