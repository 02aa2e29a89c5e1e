"""The benchmarks' runtime: `tidings dev --demo` as a child process, and what they share to run it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import IO, Any, TypeVar

import aiohttp

from tidings.sessions.tokens import issue_token
from tidings_local.keys import dev_signing_key

R = TypeVar("R")

# --- runtime process ------------------------------------------------------------------------


class BenchError(Exception):
    """The benchmark could not run; the message says why."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tidings_command() -> list[str]:
    """The `tidings` console script of this interpreter's environment, else the one on PATH."""
    local = Path(sys.executable).parent / "tidings"
    if local.exists():
        return [str(local)]
    found = shutil.which("tidings")
    if found:
        return [found]
    return [sys.executable, "-m", "tidings_local.cli"]


class Runtime:
    """`tidings dev --demo` as a child process; its output goes to a log file, shown on failure."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.base_url = f"http://{host}:{port}"
        self.ws_url = f"ws://{host}:{port}/ws"
        self._log: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def token(self, user_id: str) -> str:
        """An hour's access token of `user_id`, signed with the runtime's development key."""
        return issue_token(user_id, dev_signing_key(), ttl_seconds=3600)

    @property
    def log_path(self) -> str:
        return self._log.name if self._log else "?"

    def start(self) -> None:
        command = [*tidings_command(), "dev", "--demo", "--host", self.host, "--port", str(self.port)]
        self._log = tempfile.NamedTemporaryFile(prefix="tidings-bench-", suffix=".log", delete=False)  # noqa: SIM115
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen(  # noqa: S603 - our own console script
            command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )

    def exited(self) -> int | None:
        return self._process.poll() if self._process else None

    def log_tail(self, lines: int = 30) -> str:
        if not self._log:
            return ""
        self._log.flush()
        text = Path(self._log.name).read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    async def wait_healthy(self, session: aiohttp.ClientSession, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.exited()
            if code is not None:
                raise BenchError(f"`tidings dev` exited with code {code} before it was healthy:\n{self.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with session.get(f"{self.base_url}/healthz", timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.2)
        raise BenchError(
            f"`tidings dev` was not healthy at {self.base_url}/healthz within {timeout:.0f} s "
            f"(log: {self.log_path}):\n{self.log_tail()}"
        )

    def stop(self, keep_log: bool = False) -> None:
        """SIGTERM, then SIGKILL after 10 s. Always safe to call."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            if not keep_log:
                with contextlib.suppress(OSError):
                    os.unlink(self._log.name)


# --- a benchmark's main -------------------------------------------------------------------


def run_benchmark(
    port: int | None,
    scenario: Callable[[Runtime], Coroutine[Any, Any, R]],
    report: Callable[[R], str],
    output: Path,
    *,
    complete: Callable[[R], bool] = lambda _: True,
) -> int:
    """Runs `scenario` against a fresh runtime on `port` (or a free one), stops the runtime,
    prints the report and writes it to `output`. The runtime's log is kept (and named) when the
    run failed or was incomplete. The exit status: 0 done, 1 incomplete, 2 could not run,
    130 interrupted."""
    runtime = Runtime("127.0.0.1", port or free_port())
    failed = True
    try:
        result = asyncio.run(scenario(runtime))
        failed = not complete(result)
    except BenchError as exc:
        log(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        log("stopping runtime…")
        runtime.stop(keep_log=failed)
        if failed:
            log(f"runtime log kept at {runtime.log_path}")
    text = report(result)
    print(text)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    log(f"wrote {output}")
    return 0 if complete(result) else 1
