"""Fixtures of the SDK's tests: a fake clock and an in-memory server for the unit tests (no
real sleeping), and a real `tidings dev` subprocess per module for the end-to-end ones."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tidings_client import Backoff, TidingsClient
from tidings_client.testing import FakeClock, FakeServer

URL = "ws://tidings.test/ws"


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` served on 127.0.0.1 in a thread; its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def serve() -> Callable[[type[BaseHTTPRequestHandler]], Any]:
    """`http_server`, for the tests that fake an HTTP API."""
    return http_server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
async def make_client(clock: FakeClock, server: FakeServer) -> AsyncIterator[Callable[..., TidingsClient]]:
    """A factory for clients on the fake clock and server; all are closed after the test."""
    clients: list[TidingsClient] = []

    def make(token: Any = "token-1", **options: Any) -> TidingsClient:
        options.setdefault("backoff", Backoff(jitter=False))
        client = TidingsClient(URL, token, clock=clock, transport=server, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


# --- end to end: a real `tidings dev` --------------------------------------------------------

TIDINGS = Path(sys.executable).with_name("tidings")
STARTUP_TIMEOUT_SECONDS = 90


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DevServer:
    """`tidings dev --demo` as a subprocess on a free port, restartable on the same port."""

    def __init__(self, name: str) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"sdk-{name}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [str(TIDINGS), "dev", "--demo", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tidings dev exited; its log:\n{self.log_path.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.process.kill()
        raise RuntimeError(f"tidings dev was not healthy in time; its log:\n{self.log_path.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.base_url + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw.strip() else None

    def session(self, user_id: str) -> dict[str, Any]:
        """A sign-in with a refresh token (`POST /_local/sessions`)."""
        result: dict[str, Any] = self._call("POST", "/_local/sessions", {"userId": user_id})
        return result

    def token(self, user_id: str, ttl: int | None = None) -> str:
        if ttl is None:
            return str(self.session(user_id)["token"])
        args = [str(TIDINGS), "token", user_id, "--ttl", str(ttl)]
        return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]

    def delete_connection(self, connection_id: str) -> None:
        """API Gateway's DeleteConnection: the server cuts the connection (close code 1000)."""
        self._call("DELETE", f"/@connections/{connection_id}")

    def client(self, user_id: str, **options: Any) -> TidingsClient:
        token = self.token(user_id)
        options.setdefault("backoff", Backoff([0.2, 0.5, 1.0], jitter=False))
        return TidingsClient(self.ws_url, lambda: token, **options)


async def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Waits for `condition()`; the timeout only bounds a failure (no timing assertions)."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.fixture
def until() -> Callable[..., Any]:
    return wait_until


@pytest.fixture(scope="module")
def dev(request: pytest.FixtureRequest) -> Iterator[DevServer]:
    """A `tidings dev` of this module's own (modules can run in parallel)."""
    server = DevServer(request.module.__name__.rsplit(".", 1)[-1])
    server.start()
    yield server
    server.stop()
