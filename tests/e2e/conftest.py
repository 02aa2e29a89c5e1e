"""End-to-end fixtures: a real `tidings dev --demo` process and WebSocket clients.

The runtime runs as a subprocess on a free port, exactly as a developer starts it; the tests
talk to it only over HTTP and WebSockets, as a client would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.wsclient import Client

TIDINGS = Path(sys.executable).with_name("tidings")
STARTUP_TIMEOUT_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base_url: str
    ws_url: str
    tokens: dict[str, str]

    def token(self, user_id: str, ttl: int | None = None) -> str:
        """A token from `tidings token`, the way a developer gets one."""
        if ttl is None and user_id in self.tokens:
            return self.tokens[user_id]
        args = [str(TIDINGS), "token", user_id] + ([] if ttl is None else ["--ttl", str(ttl)])
        token = subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        if ttl is None:
            self.tokens[user_id] = token
        return token

    async def connect(self, user_id: str) -> Client:
        return await Client.connect(f"{self.ws_url}?token={self.token(user_id)}")


def _wait_healthy(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tidings dev exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"tidings dev was not healthy within {STARTUP_TIMEOUT_SECONDS}s")


def start_server(*extra_args: str, log_name: str = "tidings-dev") -> tuple[subprocess.Popen, Server, Path]:
    port = _free_port()
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"{log_name}-{port}.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [str(TIDINGS), "dev", "--demo", "--host", "127.0.0.1", "--port", str(port), *extra_args],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process)
    except Exception:
        process.kill()
        raise RuntimeError(f"tidings dev did not start; its log:\n{log_path.read_text()[-4000:]}") from None
    return process, Server(base_url=base, ws_url=f"ws://127.0.0.1:{port}/ws", tokens={}), log_path


def stop_server(process: subprocess.Popen) -> int:
    process.terminate()
    try:
        return process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    process, server, _ = start_server()
    yield server
    stop_server(process)
