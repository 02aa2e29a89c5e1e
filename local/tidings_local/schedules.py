"""EventBridge schedules, emulated: each declared `Schedule` invokes its function every
`rate_seconds` with a `Scheduled Event`, as an EventBridge rule with a rate expression does.

Invocations are asynchronous on AWS: a slow run does not delay the next tick, and a failed one is
retried twice, then parked with its error in the schedule's on-failure queue (`async_invocations`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tidings.kernel.declaration import Application, Schedule
from tidings_local.async_invocations import invoke_async
from tidings_local.aws import ACCOUNT_ID, region
from tidings_local.http_api import json_error
from tidings_local.lambdas import FunctionError, Lambdas


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

    def __init__(self, application: Application, schedule: Schedule, lambdas: Lambdas, on_failure_url: str) -> None:
        self.application = application
        self.schedule = schedule
        self._lambdas = lambdas
        self._on_failure_url = on_failure_url
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
        event = scheduled_event(self.application, self.schedule)
        await invoke_async(self._lambdas, self.schedule.function, event, self._on_failure_url)


def routes(application: Application, lambdas: Lambdas) -> list[web.RouteDef]:
    """`POST /_local/schedules/{scheduleId}` (local-only): fires a schedule now and answers with
    its function's result, as `aws lambda invoke` would. `{"time": "<ISO 8601>"}` sets the
    event's `time`, the tick the function acts for (what tomorrow's retention sweep deletes)."""
    schedules = {schedule.id: schedule for schedule in application.schedules}

    async def fire(request: web.Request) -> web.Response:
        schedule_id = request.match_info["scheduleId"]
        schedule = schedules.get(schedule_id)
        if schedule is None:
            return json_error(404, "NOT_FOUND", f"No schedule {schedule_id!r}; the schedules are {sorted(schedules)}")
        body: Any = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = None
        if not isinstance(body, dict) or not isinstance(body.get("time", ""), str):
            return json_error(400, "BAD_FRAME", 'Send nothing, or {"time": "2026-12-31T00:00:00Z"}')
        event = scheduled_event(application, schedule)
        if "time" in body:
            try:
                at = datetime.fromisoformat(body["time"].replace("Z", "+00:00"))
            except ValueError:
                return json_error(400, "BAD_FRAME", f"time: not an ISO 8601 time: {body['time']!r}")
            event["time"] = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            result = await lambdas.invoke(schedule.function, event)
        except FunctionError as exc:
            return json_error(502, "FUNCTION_ERROR", f"{schedule.function.id} failed: {exc}")
        return web.json_response({"scheduleId": schedule.id, "time": event["time"], "result": result})

    return [web.post("/_local/schedules/{scheduleId}", fire)]
