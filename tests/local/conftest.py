"""Fixtures for the local runtime's own tests: a runtime on a free port running stub handlers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from tests.local.stub_app import APP, STUB_FUNCTIONS_DIR
from tidings.kernel.declaration import Application, Function
from tidings_local.runtime import LocalRuntime
from tidings_local.streams import PollerSettings

FAST_POLLING = PollerSettings(poll_interval=0.05, retry_backoff=0.01)

StartRuntime = Callable[..., Awaitable[LocalRuntime]]


@pytest.fixture
async def start_runtime() -> AsyncIterator[StartRuntime]:
    """Starts a runtime on a free port with the stub application; stops it after the test."""
    started: list[LocalRuntime] = []

    async def start(application: Application = APP, **options: Any) -> LocalRuntime:
        options.setdefault("poller_settings", FAST_POLLING)
        options.setdefault("record_invocations", True)
        runtime = LocalRuntime(port=0, application=application, functions_dir=STUB_FUNCTIONS_DIR, **options)
        await runtime.start()
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        await runtime.stop()


@pytest.fixture
async def runtime(start_runtime: StartRuntime) -> LocalRuntime:
    return await start_runtime()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def eventually(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Waits until `predicate()` is truthy and returns its value."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
    return value


async def probe(runtime: LocalRuntime, function: Function, *steps: dict[str, Any]) -> dict[str, Any]:
    """Invokes a probe function (`stub_functions/probe/probe.py`) with `steps`; its answer."""
    answer: dict[str, Any] = await runtime.lambdas.invoke(function, {"steps": list(steps)})
    return answer
