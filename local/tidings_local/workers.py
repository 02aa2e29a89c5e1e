"""Lambda's execution environments, locally: one worker process per concurrent invocation.

`Template` starts the template process (`lambda_bootstrap.py`) and asks it for workers; a
`Worker` is one execution environment as the main process sees it: its channel, its log
stream, its process; `FunctionPool` keeps a function's workers, starting one on demand up to a
cap and reusing it while it is warm.

Each worker's stdout and stderr are read line by line and written to this process's stdout as
JSON lines tagged with the function and its log stream, as CloudWatch keeps one log stream per
execution environment: a line that is a JSON object keeps its text, with `function` and
`logStream` put first; any other line becomes `{"function", "logStream", "message"}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tidings.kernel.declaration import Function
from tidings_local.lambda_paths import LambdaPaths

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
FAULT_HOOKS = Path(__file__).with_name("lambda_faults.py")
CHANNEL_LIMIT = 64 * 1024 * 1024  # Lambda's own payload limits are 6 MB; this is only a buffer
LOG_LINE_LIMIT = 1024 * 1024
CONTROL_MESSAGE_BYTES = 64 * 1024

# What the template imports once for every worker: the runtime's SDK, the Powertools layer, and
# the third-party packages of our layer that most functions import at cold start. Never
# `tidings` (it reads the environment at import) and never function code. opensearch-py stays
# out: only the search functions import it, lazily, and its `events` dependency has a name a
# handler module once had (functions/message/events.py).
PRELOAD = (
    "boto3",
    "botocore.session",
    "botocore.client",
    "pydantic",
    "aws_lambda_powertools",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.tracing",
    "aws_lambda_powertools.utilities.typing",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.parser",
    "aws_lambda_powertools.utilities.parser.models",
    "aws_lambda_powertools.event_handler",
    "aws_xray_sdk.core",
    "pynamodb.models",
    "pynamodb.attributes",
    "pynamodb.transactions",
    "pynamodb.connection",
    "jwt",
    "requests",
    "httpx",
    "h2.connection",
    "pywebpush",
    "aiohttp",
    "zoneinfo",
)
# The AWS services the functions call: their SDK models are parsed once, in the template.
SDK_SERVICES = ("dynamodb", "dynamodbstreams", "sqs", "secretsmanager", "apigatewaymanagementapi")


class WorkerGone(Exception):
    """The worker process ended (`exit`: what it said as it died, if it could)."""

    def __init__(self, exit_info: dict[str, Any] | None) -> None:
        super().__init__("the worker exited")
        self.exit_info = exit_info


class WorkerTimedOut(Exception):
    """The invocation ran past its deadline; the worker was killed."""


@dataclass
class SpawnedProcess:
    pid: int
    channel: socket.socket
    stdout: socket.socket
    stderr: socket.socket


class Template:
    """The template process: forks workers on request (blocking calls, safe from any thread)."""

    def __init__(self, paths: LambdaPaths, environment: dict[str, str], preload: tuple[str, ...] = PRELOAD) -> None:
        self.paths = paths
        self._environment = environment
        self._preload = preload
        self._control: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.modules: frozenset[str] = frozenset()

    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {
            "layers": str(self.paths.layers),
            "runtime": str(self.paths.runtime),
            "preload": list(self._preload),
            "sdk_services": list(SDK_SERVICES),
            "control_fd": theirs.fileno(),
        }
        self._process = subprocess.Popen(  # noqa: S603 - our own bootstrap, no shell
            [sys.executable, "-I", "-S", "-u", str(BOOTSTRAP), json.dumps(config)],
            pass_fds=[theirs.fileno()],
            env=self._environment,
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._control = ours
        hello = ours.recv(CONTROL_MESSAGE_BYTES)
        if not hello:
            raise RuntimeError(f"the Lambda template process exited with {self._process.wait()}")
        self.modules = frozenset(json.loads(hello)["modules"])

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def spawn(self, spec: dict[str, Any]) -> SpawnedProcess:
        """A new worker for `spec` (see lambda_bootstrap.run_worker)."""
        channel, channel_child = socket.socketpair()
        stdout, stdout_child = socket.socketpair()
        stderr, stderr_child = socket.socketpair()
        children = [channel_child, stdout_child, stderr_child]
        try:
            with self._lock:
                if self._control is None:
                    raise RuntimeError("the Lambda template process is not running")
                socket.send_fds(self._control, [json.dumps(spec).encode()], [s.fileno() for s in children])
                reply = self._control.recv(CONTROL_MESSAGE_BYTES)
            if not reply:
                raise RuntimeError("the Lambda template process exited")
        except BaseException:
            for sock in (channel, stdout, stderr):
                sock.close()
            raise
        finally:
            for sock in children:
                sock.close()
        return SpawnedProcess(json.loads(reply)["pid"], channel, stdout, stderr)

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


LogSink = Callable[[str], None]


def tagged_line(line: str, function_id: str, log_stream: str) -> str:
    """A worker's log line as this process writes it (see the module docstring)."""
    tag = {"function": function_id, "logStream": log_stream}
    stripped = line.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            head = json.dumps(tag)[:-1]
            rest = stripped[1:].lstrip()
            return head + ("}" if rest == "}" else ", " + rest)
    return json.dumps({**tag, "message": line})


def write_to(stream: TextIO) -> LogSink:
    def sink(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    return sink


@dataclass(eq=False)
class Worker:
    """One execution environment of `function`."""

    function: Function
    pid: int
    log_stream: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    init_ms: float = 0.0
    alive: bool = True
    exit_info: dict[str, Any] | None = None
    invocations: int = 0
    _pumps: list[asyncio.Task[None]] = field(default_factory=list)
    _log_writers: list[asyncio.StreamWriter] = field(default_factory=list)  # kept: dropping one closes it

    @classmethod
    async def attach(cls, function: Function, spawned: SpawnedProcess, log_stream: str, sink: LogSink) -> Worker:
        reader, writer = await asyncio.open_unix_connection(sock=spawned.channel, limit=CHANNEL_LIMIT)
        worker = cls(function, spawned.pid, log_stream, reader, writer)
        for sock in (spawned.stdout, spawned.stderr):
            log_reader, log_writer = await asyncio.open_unix_connection(sock=sock, limit=LOG_LINE_LIMIT)
            worker._log_writers.append(log_writer)
            worker._pumps.append(asyncio.create_task(worker._pump(log_reader, sink), name=f"logs:{function.id}"))
        return worker

    async def _pump(self, reader: asyncio.StreamReader, sink: LogSink) -> None:
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # a line over the limit: what there is of it
                line = await reader.read(LOG_LINE_LIMIT)
            except (ConnectionError, OSError):
                return
            if not line:
                return
            sink(tagged_line(line.decode("utf-8", errors="replace").rstrip("\r\n"), self.function.id, self.log_stream))

    async def ready(self) -> dict[str, Any]:
        """Waits for the cold start: {"ready": {...}} or {"initError": {...}}."""
        reply = await self._next()
        if "ready" in reply:
            self.init_ms = float(reply["ready"].get("initMs", 0.0))
        return reply

    async def invoke(
        self, invocation: dict[str, Any], timeout: float, decide: Callable[[str, dict[str, Any]], str | None]
    ) -> dict[str, Any]:
        """Runs one invocation: {"result": ...}, {"bytes": ...} or {"error": {...}}. Raises
        `WorkerTimedOut` (the worker is killed) or `WorkerGone`."""
        self.invocations += 1
        self.writer.write(json.dumps({"invoke": invocation}, separators=(",", ":")).encode() + b"\n")

        async def reply() -> dict[str, Any]:
            await self.writer.drain()
            while True:
                message = await self._next()
                if "decide" in message:
                    asked = message["decide"]
                    answer = {"rule": decide(asked["target"], asked.get("facts") or {})}
                    self.writer.write(json.dumps(answer).encode() + b"\n")
                    await self.writer.drain()
                    continue
                return message

        try:
            return await asyncio.wait_for(reply(), timeout)
        except TimeoutError:
            self.kill()
            raise WorkerTimedOut from None
        except (ConnectionError, OSError):
            self.kill()
            raise WorkerGone(self.exit_info) from None

    async def _next(self) -> dict[str, Any]:
        while True:
            line = await self.reader.readline()
            if not line:
                self.kill()
                raise WorkerGone(self.exit_info)
            message: dict[str, Any] = json.loads(line)
            if "exit" in message:
                self.exit_info = message["exit"]
                continue
            return message

    def kill(self) -> None:
        """Ends the worker's process group at once (a Lambda environment is simply reset)."""
        if self.alive:
            self.alive = False
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.writer.close()

    async def closed(self) -> None:
        """Waits until its logs are written out (after `kill` or a clean exit)."""
        await asyncio.gather(*self._pumps, return_exceptions=True)


class FunctionPool:
    """A function's workers: started on demand up to `limit`, reused while warm (most recently
    used first, as Lambda favours warm environments). More concurrent invocations than `limit`
    wait for a worker (Lambda would start more environments, up to the account's concurrency)."""

    def __init__(self, function: Function, start: Callable[[], Awaitable[Worker]], limit: int) -> None:
        self.function = function
        self._start = start
        self._limit = limit
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self._starting = 0
        self._changed = asyncio.Condition()

    @property
    def workers(self) -> list[Worker]:
        return [worker for worker in self._all if worker.alive]

    async def acquire(self) -> Worker:
        async with self._changed:
            while True:
                while self._idle:
                    warm = self._idle.pop()
                    if warm.alive:
                        return warm
                    self._all.discard(warm)
                self._all = {worker for worker in self._all if worker.alive}
                if len(self._all) + self._starting < self._limit:
                    self._starting += 1
                    break
                await self._changed.wait()
        started: Worker | None = None
        try:
            started = await self._start()
            return started
        finally:
            async with self._changed:
                self._starting -= 1
                if started is not None:
                    self._all.add(started)
                self._changed.notify()

    async def release(self, worker: Worker) -> None:
        async with self._changed:
            if worker.alive:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
            self._changed.notify()

    def kill_all(self) -> list[Worker]:
        killed = list(self._all)
        for worker in killed:
            worker.kill()
        self._idle.clear()
        self._all.clear()
        return killed


def log_stream_name(instance: str) -> str:
    """Lambda's log stream name: `YYYY/MM/DD/[$LATEST]` and 32 hex digits."""
    return time.strftime("%Y/%m/%d", time.gmtime()) + f"/[$LATEST]{instance}"


__all__ = [
    "FAULT_HOOKS",
    "PRELOAD",
    "FunctionPool",
    "Template",
    "Worker",
    "WorkerGone",
    "WorkerTimedOut",
    "log_stream_name",
    "tagged_line",
    "write_to",
]
