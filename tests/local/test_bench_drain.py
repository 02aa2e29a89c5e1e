"""`make bench` counts the work its messages caused: it reads the counters only once the runtime
reports nothing still running (`/_local/stats` → `activity`)."""

from __future__ import annotations

import aiohttp

from tests.local.conftest import StartRuntime, eventually
from tidings.kernel.connections_api import DELIVERY_RETRIES
from tidings.notifications.declaration import NOTIFICATION_RETRIES
from tidings_local.bench_load import drained_stats, still_running


def _stats(in_flight: int = 0, stream: int = 0, retries: int = 0, timers: int = 0) -> dict:
    return {
        "awsCalls": {},
        "activity": {
            "invocationsInFlight": in_flight,
            "streamRecordsPending": {"Delivery": stream},
            "queueMessages": {NOTIFICATION_RETRIES.id: retries, DELIVERY_RETRIES.id: 0, "PresenceTimers": timers},
        },
    }


def test_work_still_running_is_named_and_timer_queues_are_not_waited_for() -> None:
    assert still_running(_stats()) == []
    assert still_running(_stats(timers=5)) == [], "a connection's timers are no message's work"
    assert still_running(_stats(in_flight=2, stream=3, retries=1)) == [
        "2 invocation(s) in flight",
        "3 stream record(s) for Delivery",
        f"1 message(s) on {NOTIFICATION_RETRIES.id}",
    ]
    assert still_running({"awsCalls": {}}) == ["the runtime reports no activity"]


async def test_the_wait_ends_when_the_runtime_is_idle(start_runtime: StartRuntime) -> None:
    runtime = await start_runtime()
    await eventually(lambda: runtime.activity()["streamRecordsPending"] == {"Consumer": 0})
    async with aiohttp.ClientSession() as session:
        drained = await drained_stats(session, runtime.url, max_wait=10)
    assert drained.idle and drained.busy == []
    assert drained.stats["activity"] == {
        "invocationsInFlight": 0,
        "streamRecordsPending": {"Consumer": 0},
        "queueMessages": {},
    }
