"""`python -m tidings_local.bench`: what one message costs, measured on the local runtime.

Method
------
1. Start `tidings dev --demo` as a subprocess on a free port and wait for `GET /healthz` → 200.
2. Open N WebSocket connections (`--clients`, default 5) as the five demo users, round-robin
   (alice, bob, carol, dave, erin, alice, ...), at most 5 per user (the protocol's connection
   limit), so N ≤ 25. Every demo user is a member of the channel `general`.
3. Send `--warmup` messages (default 5) and wait for their delivery, so one-off work (imports,
   first connections to moto, the signing key fetch) is not measured: on AWS it is a cold start,
   not a per-message cost.
4. Snapshot `GET /_local/stats`, then send M `message.send` frames (`--messages`, default 200)
   to `general`, from the connections round-robin, with at most `--window` sends awaiting their
   ack at any time (and, with `--rate`, no faster than that many per second). For each message
   record:
   - send → ack: until the sending connection gets the `ack` for the frame id;
   - send → delivery: until *every* connection (the sender's included) has received
     `message.new` for it; per-receiver latencies (one per message per connection) too.
   Frames are matched by content (each message carries its own frame id), so a `message.new`
   that overtakes its ack is still attributed correctly. A `RATE_LIMITED` ack is retried with
   the same frame id after `retryAfterMs` (idempotent per the protocol) and counted; latency
   stays measured from the first attempt, as a client would see it.
5. Once every message is acked and delivered (or `--timeout` runs out), wait until the runtime's
   counters stop moving and snapshot `/_local/stats` again. The difference, divided by M, is:
   AWS API calls per message by service and operation (everything the Lambda handlers called),
   Lambda invocations per message by function, and API Gateway frames in/out per message.
6. Price those per-message counts with AWS list prices (`PRICE_TABLE`, `DYNAMODB_UNITS`, Lambda
   memory from `tidings.app.APPLICATION`, assumed durations) into dollars per million messages.
7. Print a Markdown report to stdout and write it to `docs/benchmarks.md`.

Caveats
-------
- This is the local emulator: one process, handlers in a thread pool, DynamoDB/Streams on moto
  behind one lock. Latency and throughput numbers say how fast the emulator is on this machine,
  NOT how fast Tidings is on AWS. The API-call counts per message and the cost model built on
  them are the transferable part.
- Counts are for this workload: a 5-member channel, every member online, short text messages, no
  mentions. Fan-out calls grow with members and connections; a mention adds a BatchGetItem.
- Costs cover the per-message path only: not connection minutes, CloudWatch Logs / metrics,
  X-Ray, data transfer, storage, or the free tiers.
- Nothing is asserted about speed: this is a benchmark, not a test. It exits non-zero only when
  it could not finish (runtime would not start, or the timeout ran out).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import aiohttp

from tidings.app import APPLICATION
from tidings.sessions.tokens import issue_token
from tidings_local.keys import dev_signing_key

DEMO_USERS = ("alice", "bob", "carol", "dave", "erin")
CHAT_ID = "general"
MAX_CONNECTIONS_PER_USER = 5
MAX_CLIENTS = len(DEMO_USERS) * MAX_CONNECTIONS_PER_USER
MAX_RATE_LIMIT_RETRIES = 50
API_GATEWAY_UNIT_BYTES = 32 * 1024
DEFAULT_OUTPUT = Path("docs/benchmarks.md")

# --- the cost model -------------------------------------------------------------------------

PRICES_AS_OF = "2026-11-25"
PRICES_REGION = "us-east-1"
DYNAMODB_WRU_PER_MILLION = 0.625
DYNAMODB_RRU_PER_MILLION = 0.125
LAMBDA_REQUESTS_PER_MILLION = 0.20
LAMBDA_GB_SECOND = 0.0000166667  # x86_64, the architecture infra/ deploys
API_GATEWAY_WS_MESSAGES_PER_MILLION = 1.00  # per 32 KB unit, first billion messages a month
SECRETS_MANAGER_PER_10K_CALLS = 0.05
SQS_REQUESTS_PER_MILLION = 0.40  # standard queue, per 64 KB chunk

PRICE_TABLE: tuple[tuple[str, str], ...] = (
    ("DynamoDB on-demand write request unit (WRU)", f"${DYNAMODB_WRU_PER_MILLION:.3f} per million"),
    ("DynamoDB on-demand read request unit (RRU)", f"${DYNAMODB_RRU_PER_MILLION:.3f} per million"),
    ("Lambda requests", f"${LAMBDA_REQUESTS_PER_MILLION:.2f} per million"),
    ("Lambda compute (x86_64)", f"${LAMBDA_GB_SECOND:.10f} per GB-second"),
    (
        "API Gateway WebSocket messages (in and out, 32 KB units)",
        f"${API_GATEWAY_WS_MESSAGES_PER_MILLION:.2f} per million",
    ),
    ("Secrets Manager API calls", f"${SECRETS_MANAGER_PER_10K_CALLS:.2f} per 10,000"),
    ("SQS standard requests", f"${SQS_REQUESTS_PER_MILLION:.2f} per million"),
)


@dataclass(frozen=True)
class DynamoCost:
    """Request units one call of a DynamoDB operation is assumed to consume."""

    kind: str  # "read", "write" or "free"
    units: float
    assumption: str


DYNAMODB_UNITS: dict[str, DynamoCost] = {
    "GetItem": DynamoCost("read", 1.0, "1 RRU (item < 4 KB, strongly consistent; 0.5 if eventually consistent)"),
    "Query": DynamoCost("read", 1.0, "1 RRU per call (small result, < 4 KB)"),
    "Scan": DynamoCost("read", 1.0, "1 RRU per call (small result, < 4 KB)"),
    "BatchGetItem": DynamoCost("read", 1.0, "~1 RRU per call (few small items; really 0.5-1 RRU per item)"),
    "TransactGetItems": DynamoCost("read", 4.0, "2 RRU per item, 2 items per call"),
    "PutItem": DynamoCost("write", 1.0, "1 WRU (item < 1 KB)"),
    "UpdateItem": DynamoCost("write", 1.0, "1 WRU (item < 1 KB)"),
    "DeleteItem": DynamoCost("write", 1.0, "1 WRU (item < 1 KB)"),
    "BatchWriteItem": DynamoCost("write", 1.0, "1 WRU per item, 1 item per call"),
    "TransactWriteItems": DynamoCost(
        "write", 4.0, "2 WRU per item, 2 items per call (idempotency claim + message, as in message.send)"
    ),
}
# Control-plane calls are not billed per request.
DYNAMODB_CONTROL_PLANE = frozenset(
    {"CreateTable", "DeleteTable", "UpdateTable", "UpdateTimeToLive", "TagResource", "UntagResource"}
)

COMPONENT_ORDER = ("DynamoDB", "Lambda", "API Gateway", "Secrets Manager", "SQS")

# Each message.send writes one Messages item: one INSERT record for each stream subscription.
STREAM_RECORDS_PER_MESSAGE = 1.0

# Assumed average billed durations; stream and queue consumers do more I/O per invocation.
DEFAULT_ROUTE_MS = 50.0
DEFAULT_CONSUMER_MS = 100.0


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
        self._log: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None

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


# --- measurement ----------------------------------------------------------------------------


@dataclass
class Pending:
    """One benchmark message, from its first send to its last delivery."""

    index: int
    frame_id: str
    content: str
    sender: int
    frame: str
    sent_at: float = 0.0
    acked_at: float | None = None
    failed: str | None = None
    message_id: str | None = None
    retries: int = 0
    receipts: dict[int, float] = field(default_factory=dict)

    def delivered_at(self, receivers: int) -> float | None:
        return max(self.receipts.values()) if len(self.receipts) >= receivers else None


@dataclass
class Client:
    index: int
    user_id: str
    ws: aiohttp.ClientWebSocketResponse
    reader: asyncio.Task[None] | None = None


@dataclass
class FrameSizes:
    """API Gateway bills frames in 32 KB units; the clients see every frame both ways."""

    frames: int = 0
    units: int = 0
    max_bytes: int = 0

    def add(self, size: int) -> None:
        self.frames += 1
        self.units += max(1, math.ceil(size / API_GATEWAY_UNIT_BYTES))
        self.max_bytes = max(self.max_bytes, size)

    @property
    def units_per_frame(self) -> float:
        return self.units / self.frames if self.frames else 1.0


class Bench:
    """Sends the messages of one phase and matches acks and deliveries to them.

    The connections' readers live as long as the connections; `begin` starts a new phase
    (warm-up, then measurement) and forgets everything about the previous one, so late frames
    of the warm-up are ignored."""

    def __init__(self, clients: list[Client], window: int, rate: float) -> None:
        self.clients = clients
        self.window_size = window
        self.rate = rate
        self.closing = False
        self.closed: list[str] = []
        self.begin(0)

    def begin(self, messages: int) -> None:
        self.total = messages
        self.window = asyncio.Semaphore(self.window_size)
        self.by_frame_id: dict[str, Pending] = {}
        self.by_content: dict[str, Pending] = {}
        self.done = asyncio.Event()
        self.resolved = 0
        self.acked = 0
        self.delivered = 0
        self.sent = 0
        self.frames_in = FrameSizes()
        self.frames_out = FrameSizes()
        self.other_frames: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.id_mismatches = 0
        self.start = 0.0
        self.last_ack = 0.0
        self.last_delivery = 0.0
        self._retry_tasks: set[asyncio.Task[None]] = set()

    # -- receiving --

    async def read(self, client: Client) -> None:
        async for msg in client.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            now = time.perf_counter()
            self.frames_out.add(len(msg.data.encode("utf-8")))
            try:
                frame = json.loads(msg.data)
                kind = frame.get("type")
                payload = frame.get("payload") or {}
            except (ValueError, AttributeError):
                self.other_frames["<unparseable>"] += 1
                continue
            if kind == "ack":
                self._on_ack(payload, now)
            elif kind == "message.new" and payload.get("chatId") == CHAT_ID:
                self._on_delivery(client.index, payload.get("message") or {}, now)
            else:
                self.other_frames[str(kind)] += 1
        if not self.closing:
            self.closed.append(f"{client.user_id}#{client.index} (close code {client.ws.close_code})")

    def _on_ack(self, payload: dict[str, Any], now: float) -> None:
        pending = self.by_frame_id.get(str(payload.get("refId")))
        if pending is None or pending.acked_at is not None or pending.failed:
            return
        if payload.get("status") == "ok":
            pending.acked_at = now
            self.last_ack = now
            self.acked += 1
            message = payload.get("message") or {}
            pending.message_id = message.get("messageId")
            self.window.release()
            self._maybe_resolve(pending)
            return
        error = payload.get("error") or {}
        code = str(error.get("code", "UNKNOWN"))
        if code == "RATE_LIMITED" and pending.retries < MAX_RATE_LIMIT_RETRIES:
            pending.retries += 1
            self.errors["RATE_LIMITED (retried)"] += 1
            delay = float(error.get("retryAfterMs") or 100) / 1000
            task = asyncio.create_task(self._resend(pending, delay))
            self._retry_tasks.add(task)
            task.add_done_callback(self._retry_tasks.discard)
            return
        pending.failed = f"{code}: {error.get('message', '')}"
        self.errors[code] += 1
        self.window.release()
        self.resolved += 1
        self._check_done()

    def _on_delivery(self, receiver: int, message: dict[str, Any], now: float) -> None:
        pending = self.by_content.get(str(message.get("content")))
        if pending is None or receiver in pending.receipts:
            return  # not ours, or a duplicate (at-least-once delivery)
        if pending.message_id and message.get("messageId") != pending.message_id:
            self.id_mismatches += 1
        pending.receipts[receiver] = now
        if len(pending.receipts) == len(self.clients):
            self.delivered += 1
            self.last_delivery = now
            self._maybe_resolve(pending)

    def _maybe_resolve(self, pending: Pending) -> None:
        if pending.acked_at is not None and len(pending.receipts) == len(self.clients):
            self.resolved += 1
            self._check_done()

    def _check_done(self) -> None:
        if self.resolved >= self.total:
            self.done.set()

    # -- sending --

    async def _send(self, pending: Pending) -> None:
        self.frames_in.add(len(pending.frame.encode("utf-8")))
        await self.clients[pending.sender].ws.send_str(pending.frame)

    async def _resend(self, pending: Pending, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._send(pending)

    async def send_all(self, label: str) -> None:
        self.start = time.perf_counter()
        for index in range(self.total):
            if self.rate > 0:
                await asyncio.sleep(max(0.0, self.start + index / self.rate - time.perf_counter()))
            await self.window.acquire()
            frame_id = str(uuid.uuid4())
            content = f"bench {label} #{index} {frame_id}"
            frame = json.dumps(
                {
                    "type": "message.send",
                    "id": frame_id,
                    "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "payload": {"chatId": CHAT_ID, "content": content},
                }
            )
            pending = Pending(index, frame_id, content, index % len(self.clients), frame)
            self.by_frame_id[frame_id] = pending
            self.by_content[content] = pending
            pending.sent_at = time.perf_counter()
            self.sent += 1
            await self._send(pending)

    @property
    def messages(self) -> list[Pending]:
        return sorted(self.by_frame_id.values(), key=lambda p: p.index)


async def progress(bench: Bench, interval: float) -> None:
    tty = sys.stderr.isatty()
    while True:
        await asyncio.sleep(interval)
        line = (
            f"sending: {bench.sent}/{bench.total} sent, {bench.acked} acked, "
            f"{bench.delivered} delivered to all {len(bench.clients)} clients"
        )
        if tty:
            print(f"\r{line}   ", end="", file=sys.stderr, flush=True)
        else:
            log(line)


async def fetch_stats(session: aiohttp.ClientSession, base_url: str) -> dict[str, Any]:
    async with session.get(f"{base_url}/_local/stats", timeout=aiohttp.ClientTimeout(total=10)) as resp:
        if resp.status != 200:
            raise BenchError(f"GET /_local/stats answered HTTP {resp.status}: {(await resp.text())[:200]}")
        data: dict[str, Any] = await resp.json()
        return data


async def settled_stats(session: aiohttp.ClientSession, base_url: str, max_wait: float = 5.0) -> dict[str, Any]:
    """A snapshot taken once two consecutive snapshots 0.3 s apart agree (or after `max_wait`)."""
    deadline = time.monotonic() + max_wait
    previous = await fetch_stats(session, base_url)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        current = await fetch_stats(session, base_url)
        if current == previous:
            return current
        previous = current
    return previous


def _flatten_calls(stats: dict[str, Any]) -> Counter[tuple[str, str]]:
    flat: Counter[tuple[str, str]] = Counter()
    for service, operations in (stats.get("awsCalls") or {}).items():
        for operation, count in (operations or {}).items():
            flat[(str(service), str(operation))] += int(count)
    return flat


@dataclass
class StatsDelta:
    aws_calls: dict[tuple[str, str], int]
    invocations: dict[str, int]
    gateway_in: int
    gateway_out: int


def stats_delta(before: dict[str, Any], after: dict[str, Any]) -> StatsDelta:
    calls = _flatten_calls(after)
    calls.subtract(_flatten_calls(before))
    invocations: Counter[str] = Counter({k: int(v) for k, v in (after.get("invocations") or {}).items()})
    invocations.subtract({k: int(v) for k, v in (before.get("invocations") or {}).items()})
    gw_after = after.get("gatewayMessages") or {}
    gw_before = before.get("gatewayMessages") or {}
    return StatsDelta(
        aws_calls={key: n for key, n in sorted(calls.items()) if n},
        invocations={key: n for key, n in sorted(invocations.items()) if n},
        gateway_in=int(gw_after.get("in", 0)) - int(gw_before.get("in", 0)),
        gateway_out=int(gw_after.get("out", 0)) - int(gw_before.get("out", 0)),
    )


# --- results --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class CostLine:
    component: str
    item: str
    quantity: str
    dollars_per_million: float | None  # None: not priced


@dataclass
class Result:
    args: argparse.Namespace
    port: int
    started_at: datetime
    complete: bool
    bench: Bench
    delta: StatsDelta
    connections_per_user: dict[str, int]

    @property
    def ok(self) -> list[Pending]:
        return [p for p in self.bench.messages if p.acked_at is not None]

    def ack_ms(self) -> list[float]:
        return [(p.acked_at - p.sent_at) * 1000 for p in self.ok if p.acked_at is not None]

    def delivery_ms(self) -> list[float]:
        receivers = len(self.bench.clients)
        return [
            (done - p.sent_at) * 1000 for p in self.bench.messages if (done := p.delivered_at(receivers)) is not None
        ]

    def per_receiver_ms(self) -> list[float]:
        return [(t - p.sent_at) * 1000 for p in self.bench.messages for t in p.receipts.values()]

    @property
    def divisor(self) -> int:
        """Per-message figures divide by the messages sent (all of them, when complete)."""
        return max(1, self.bench.sent)


def cost_lines(result: Result, route_ms: float, consumer_ms: float) -> list[CostLine]:
    per = 1.0 / result.divisor
    million = 1_000_000
    lines: list[CostLine] = []

    for (service, operation), count in result.delta.aws_calls.items():
        rate = count * per
        if service == "dynamodb":
            cost = DYNAMODB_UNITS.get(operation)
            if cost is not None:
                price = DYNAMODB_WRU_PER_MILLION if cost.kind == "write" else DYNAMODB_RRU_PER_MILLION
                unit = "WRU" if cost.kind == "write" else "RRU"
                lines.append(
                    CostLine(
                        "DynamoDB",
                        f"{operation}: {cost.assumption}",
                        f"{rate:.3f} calls × {cost.units:g} {unit} = {rate * cost.units:.3f} {unit}",
                        rate * cost.units * price,
                    )
                )
            elif operation in DYNAMODB_CONTROL_PLANE or operation.startswith(("Describe", "List")):
                lines.append(CostLine("DynamoDB", f"{operation} (control plane, not billed)", f"{rate:.3f}", 0.0))
            else:
                lines.append(CostLine("DynamoDB", f"{operation} (no unit assumption)", f"{rate:.3f} calls", None))
        elif service == "secretsmanager":
            lines.append(
                CostLine(
                    "Secrets Manager",
                    operation,
                    f"{rate:.4f} calls",
                    rate * million * SECRETS_MANAGER_PER_10K_CALLS / 1e4,
                )
            )
        elif service == "sqs":
            lines.append(CostLine("SQS", operation, f"{rate:.3f} requests", rate * SQS_REQUESTS_PER_MILLION))
        elif service == "apigatewaymanagementapi":
            lines.append(
                CostLine(
                    "API Gateway",
                    f"{operation} (@connections; billed as the outbound frame below)",
                    f"{rate:.3f} calls",
                    0.0,
                )
            )
        else:
            lines.append(CostLine(service, f"{operation} (not priced)", f"{rate:.3f} calls", None))

    functions = {f.id: f for f in APPLICATION.functions}
    stream_consumers = {s.function.id for s in APPLICATION.stream_subscriptions}
    consumers = stream_consumers | {s.function.id for s in APPLICATION.queue_subscriptions}
    consumers |= {s.function.id for s in APPLICATION.schedules}
    for function_id, count in result.delta.invocations.items():
        measured = count * per
        function = functions.get(function_id)
        if function_id in stream_consumers:
            # Batching depends on how far the consumer lags behind, which on the emulator is not
            # AWS's lag. Price the low-traffic upper bound: every record in a batch of its own.
            rate = max(measured, STREAM_RECORDS_PER_MESSAGE)
            requests = f"{measured:.3f} invocations measured; priced at {rate:.3f} (one record per batch)"
            compute_basis = f"{consumer_ms:g} ms per stream record assumed"
        else:
            rate = measured
            requests = f"{measured:.3f} invocations"
            compute_basis = f"{consumer_ms if function_id in consumers else route_ms:g} ms assumed"
        lines.append(CostLine("Lambda", f"{function_id} requests", requests, rate * LAMBDA_REQUESTS_PER_MILLION))
        if function is None:
            lines.append(CostLine("Lambda", f"{function_id} compute (undeclared function)", "?", None))
            continue
        duration = consumer_ms if function_id in consumers else route_ms
        gb_seconds = rate * function.memory_mb / 1024 * duration / 1000
        lines.append(
            CostLine(
                "Lambda",
                f"{function_id} compute ({function.memory_mb} MB × {compute_basis})",
                f"{gb_seconds:.6f} GB-s",
                gb_seconds * million * LAMBDA_GB_SECOND,
            )
        )

    bench = result.bench
    for direction, frames, sizes in (
        ("inbound", result.delta.gateway_in, bench.frames_in),
        ("outbound", result.delta.gateway_out, bench.frames_out),
    ):
        units = frames * per * sizes.units_per_frame
        lines.append(
            CostLine(
                "API Gateway",
                f"WebSocket messages, {direction} (largest seen {sizes.max_bytes} B)",
                f"{frames * per:.3f} frames = {units:.3f} units",
                units * API_GATEWAY_WS_MESSAGES_PER_MILLION,
            )
        )
    if not any(service == "secretsmanager" for service, _ in result.delta.aws_calls):
        lines.append(
            CostLine("Secrets Manager", "API calls (the signing key is cached in the function)", "0 calls", 0.0)
        )
    order = {name: rank for rank, name in enumerate(COMPONENT_ORDER)}
    return sorted(lines, key=lambda line: order.get(line.component, len(order)))


# --- report ---------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def _table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> list[str]:
    right = right or set()
    out = ["| " + " | ".join(headers) + " |"]
    out.append("|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|")
    out.extend("| " + " | ".join(row) + " |" for row in rows)
    return out


def render(result: Result, route_ms: float, consumer_ms: float) -> str:
    bench = result.bench
    args = result.args
    clients = len(bench.clients)
    per = 1.0 / result.divisor
    ack = result.ack_ms()
    delivery = result.delivery_ms()
    receiver = result.per_receiver_ms()
    acked_wall = (bench.last_ack - bench.start) if bench.acked else 0.0
    delivered_wall = (bench.last_delivery - bench.start) if bench.delivered else 0.0

    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by `make bench` (`python -m tidings_local.bench`); do not edit by hand. -->",
        "",
        "> **This is the local emulator** (`tidings dev`: one process, Lambda handlers in a thread pool, "
        "DynamoDB and DynamoDB Streams on moto). The latencies and throughput below say how fast the emulator "
        "runs on this machine; they are **NOT AWS latencies**. The AWS API calls per message, and the cost "
        "model built on them, are the transferable part.",
        "",
    ]
    if not result.complete:
        lines += [
            f"> **INCOMPLETE RUN**: the {args.timeout:g} s timeout ran out with {bench.acked}/{bench.total} "
            f"messages acked and {bench.delivered}/{bench.total} delivered to every client. "
            "Per-message figures divide by the messages sent and are not reliable.",
            "",
        ]
    connections = ", ".join(f"{user} ×{n}" for user, n in result.connections_per_user.items())
    lines += [
        "## Setup",
        "",
        f"- Date: {result.started_at.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {os.cpu_count()} CPUs (nproc {_nproc()}), {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}",
        f"- Code: {_git_revision()}",
        f"- Runtime: `tidings dev --demo` on 127.0.0.1:{result.port}",
        f"- Workload: {bench.total} `message.send` frames to channel `{CHAT_ID}` (5 members), round-robin over "
        f"{clients} WebSocket connections ({connections}); at most {args.window} sends awaiting their ack at once"
        f"{f', paced at {args.rate:g} messages/s' if args.rate else ''}; "
        f"after {args.warmup} unmeasured warm-up messages",
        f"- Command: `python -m tidings_local.bench --clients {clients} --messages {bench.total} "
        f"--window {args.window} --warmup {args.warmup}{f' --rate {args.rate:g}' if args.rate else ''}`",
        "",
        "## Latency and throughput (local emulator)",
        "",
    ]
    rows = [
        [
            "send → ack",
            _ms(percentile(ack, 0.5)),
            _ms(percentile(ack, 0.99)),
            _ms(max(ack, default=None)),
            str(len(ack)),
        ],
        [
            f"send → delivered to all {clients} connections",
            _ms(percentile(delivery, 0.5)),
            _ms(percentile(delivery, 0.99)),
            _ms(max(delivery, default=None)),
            str(len(delivery)),
        ],
        [
            "send → delivered, per receiving connection",
            _ms(percentile(receiver, 0.5)),
            _ms(percentile(receiver, 0.99)),
            _ms(max(receiver, default=None)),
            str(len(receiver)),
        ],
    ]
    lines += _table(["latency", "p50", "p99", "max", "samples"], rows, right={1, 2, 3, 4})
    lines += [""]
    throughput_rows = [
        [
            "messages/s, all sent and acked",
            f"{bench.acked / acked_wall:.1f}" if acked_wall else "n/a",
            f"{acked_wall:.2f} s",
        ],
        [
            "messages/s, all sent, acked and delivered",
            f"{bench.delivered / delivered_wall:.1f}" if delivered_wall else "n/a",
            f"{delivered_wall:.2f} s",
        ],
    ]
    lines += _table(["throughput", "value", "wall time"], throughput_rows, right={1, 2})
    if args.rate:
        lines += ["", f"Sends were paced at {args.rate:g} messages/s: the latencies are those at that load."]
    else:
        lines += [
            "",
            f"Sends were not paced: {args.window} sends in flight keep the emulator saturated, so the throughput is "
            "its capacity and the latencies include queueing (deliveries queue behind the stream consumer). "
            "`--rate` measures latency at a given load instead.",
        ]
    notes = []
    if bench.errors:
        notes.append("Errors in acks: " + ", ".join(f"{code} ×{n}" for code, n in sorted(bench.errors.items())) + ".")
    if bench.id_mismatches:
        notes.append(f"{bench.id_mismatches} deliveries carried a messageId other than the ack's.")
    if bench.other_frames:
        notes.append(
            "Other frames received: " + ", ".join(f"`{k}` ×{n}" for k, n in sorted(bench.other_frames.items())) + "."
        )
    if bench.closed:
        notes.append("Connections closed during the run: " + ", ".join(bench.closed) + ".")
    if notes:
        lines += ["", *notes]

    lines += [
        "",
        f"## AWS API calls per message ({result.divisor} messages)",
        "",
        "Every AWS API call made inside a Lambda handler during the measurement, counted by a botocore "
        "`before-call` hook. Calls the platform makes on AWS (stream polling by the event source mapping, "
        "table setup) are not made by our code and are not counted.",
        "",
    ]
    call_rows = [
        [service, operation, str(count), f"{count * per:.3f}"]
        for (service, operation), count in result.delta.aws_calls.items()
    ]
    call_rows.append(
        [
            "**total**",
            "",
            str(sum(result.delta.aws_calls.values())),
            f"{sum(result.delta.aws_calls.values()) * per:.3f}",
        ]
    )
    lines += _table(["service", "operation", "calls", "per message"], call_rows, right={2, 3})
    lines += ["", "## Lambda invocations per message", ""]
    invocation_rows = [[fid, str(n), f"{n * per:.3f}"] for fid, n in result.delta.invocations.items()]
    lines += _table(["function", "invocations", "per message"], invocation_rows, right={1, 2})
    lines += [
        "",
        "Stream consumers are invoked per batch of records: how many records a batch holds depends on how far "
        "the consumer lags behind the writes, so the measured figure says more about the emulator's speed than "
        "about AWS. The cost model prices the upper bound, one invocation per record.",
        "",
        "## API Gateway WebSocket frames per message",
        "",
    ]
    gateway_rows = [
        ["in (client → gateway)", str(result.delta.gateway_in), f"{result.delta.gateway_in * per:.3f}"],
        ["out (gateway → client)", str(result.delta.gateway_out), f"{result.delta.gateway_out * per:.3f}"],
    ]
    lines += _table(["direction", "frames", "per message"], gateway_rows, right={1, 2})
    lines += [
        "",
        f"Expected for this workload: 1 in (the `message.send`), 1 + {clients} out (the ack, and `message.new` "
        f"to each of the {clients} connections).",
        "",
        "## Cost per million messages",
        "",
    ]
    costs = cost_lines(result, route_ms, consumer_ms)
    cost_rows = [
        [
            line.component,
            line.item,
            line.quantity,
            "not priced" if line.dollars_per_million is None else f"${line.dollars_per_million:.4f}",
        ]
        for line in costs
    ]
    by_component: dict[str, float] = {}
    for line in costs:
        by_component[line.component] = by_component.get(line.component, 0.0) + (line.dollars_per_million or 0.0)
    total = sum(by_component.values())
    lines += _table(["component", "item", "per message", "$ per million messages"], cost_rows, right={3})
    lines += ["", "Per component:", ""]
    component_rows = [[name, f"${value:.4f}"] for name, value in by_component.items()]
    component_rows.append(["**total**", f"**${total:.4f}**"])
    lines += _table(["component", "$ per million messages"], component_rows, right={1})
    if any(line.dollars_per_million is None for line in costs):
        lines += ["", "Rows marked *not priced* are left out of the total."]
    lines += [
        "",
        f"### Prices: AWS list prices, {PRICES_REGION}, on-demand, as of {PRICES_AS_OF} (when this table was written)",
        "",
    ]
    lines += _table(["what", "price"], [[what, price] for what, price in PRICE_TABLE])
    lines += [
        "",
        "### Assumptions",
        "",
        "- DynamoDB request units per call (items here are well under 1 KB): "
        + "; ".join(f"{op}: {c.assumption}" for op, c in DYNAMODB_UNITS.items())
        + ". Control-plane calls are free. DynamoDB Streams reads by a Lambda trigger are free.",
        f"- Lambda billed duration: {route_ms:g} ms per route-handler invocation, {consumer_ms:g} ms per stream "
        "record (and per queue or schedule invocation); assumed averages, not measured: the emulator's durations "
        "are not Lambda's. Memory as declared in `tidings.app` (`memory_mb`); x86_64.",
        "- Stream consumers: each message writes one Messages item, so one INSERT record per subscription; it is "
        "priced as one invocation per record (the low-traffic case; at high traffic batching cuts the request "
        "count, not the per-record work).",
        "- API Gateway: every frame in and out is a billed message, in 32 KB units (sizes as seen by the clients); "
        "@connections calls are not billed beyond the outbound frame they produce. Connection minutes "
        "($0.25 per million) are per connection, not per message, and are left out.",
        "- Secrets Manager: the signing key is cached in the function, so calls per message are ~0.",
        "- Not included: CloudWatch Logs and metrics (structured logs and EMF metrics on every invocation; "
        "often the largest per-message cost at this scale), X-Ray, data transfer, storage, and free tiers.",
        "- Counts are for this workload: every member online, short text messages without mentions. Fan-out "
        "work grows with members and connections per chat.",
        "",
    ]
    return "\n".join(lines)


def _git_revision() -> str:
    """The commit measured, and whether the working tree had changes; "unknown" outside git."""
    git = shutil.which("git")
    if git is None:
        return "unknown (git not found)"
    try:
        head = subprocess.run(  # noqa: S603 - fixed arguments
            [git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(  # noqa: S603 - fixed arguments
            [git, "status", "--porcelain"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"commit `{head}`" + (" plus uncommitted changes" if dirty else "")


def _nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# --- orchestration --------------------------------------------------------------------------


def user_assignment(clients: int) -> list[str]:
    """Client i connects as DEMO_USERS[i % 5]: spread evenly, at most 5 connections per user."""
    return [DEMO_USERS[i % len(DEMO_USERS)] for i in range(clients)]


async def connect_clients(session: aiohttp.ClientSession, runtime: Runtime, users: list[str]) -> list[Client]:
    key = dev_signing_key()
    ws_url = f"ws://{runtime.host}:{runtime.port}/ws"
    clients: list[Client] = []
    for index, user_id in enumerate(users):
        token = issue_token(user_id, key, ttl_seconds=3600)
        try:
            ws = await session.ws_connect(ws_url, params={"token": token}, autoping=True, max_msg_size=0)
        except aiohttp.WSServerHandshakeError as exc:
            raise BenchError(f"connection {index} as {user_id} was refused: HTTP {exc.status} {exc.message}") from exc
        clients.append(Client(index, user_id, ws))
    return clients


async def run_phase(bench: Bench, messages: int, label: str, timeout: float) -> bool:
    """Sends `messages` and waits until each is acked and delivered everywhere; False on timeout."""
    bench.begin(messages)
    reporter = asyncio.create_task(progress(bench, 0.5 if sys.stderr.isatty() else 5.0))
    sender = asyncio.create_task(bench.send_all(label))
    try:
        await asyncio.wait_for(bench.done.wait(), timeout=timeout)
        return True
    except TimeoutError:
        log(
            f"timeout: {timeout:g} s ran out with {bench.acked}/{bench.total} acked and "
            f"{bench.delivered}/{bench.total} delivered to every client"
        )
        return False
    finally:
        for task in (reporter, sender):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if sys.stderr.isatty():
            print(file=sys.stderr)


async def run(args: argparse.Namespace, runtime: Runtime) -> Result:
    started_at = datetime.now(UTC)
    async with aiohttp.ClientSession() as session:
        log(f"starting runtime… (`tidings dev --demo` on {runtime.base_url})")
        runtime.start()
        await runtime.wait_healthy(session, args.startup_timeout)

        users = user_assignment(args.clients)
        log(f"connecting {args.clients} clients…")
        clients = await connect_clients(session, runtime, users)
        bench = Bench(clients, args.window, args.rate)
        for client in clients:
            client.reader = asyncio.create_task(bench.read(client))
        try:
            if args.warmup:
                log(f"warming up with {args.warmup} messages (not measured)…")
                if not await run_phase(bench, args.warmup, "warmup", args.timeout):
                    raise BenchError("the warm-up messages were not all acked and delivered; see the log above")

            before = await settled_stats(session, runtime.base_url)
            log(f"sending {args.messages} messages (window {args.window}, timeout {args.timeout:g} s)…")
            complete = await run_phase(bench, args.messages, "run", args.timeout)
            if not complete:
                log("reporting what was measured")
            after = await settled_stats(session, runtime.base_url)
        finally:
            bench.closing = True
            for client in clients:
                await client.ws.close()
            for client in clients:
                if client.reader is not None:
                    client.reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await client.reader

    return Result(
        args=args,
        port=runtime.port,
        started_at=started_at,
        complete=complete,
        bench=bench,
        delta=stats_delta(before, after),
        connections_per_user=dict(Counter(users)),
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tidings_local.bench",
        description="Benchmark message.send on the local runtime: latency, AWS calls and cost per message.",
    )
    parser.add_argument("--clients", type=int, default=5, help=f"WebSocket connections, 1..{MAX_CLIENTS} (default 5)")
    parser.add_argument("--messages", type=int, default=200, help="messages to send (default 200)")
    parser.add_argument("--window", type=int, default=10, help="max sends awaiting their ack (default 10)")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="messages per second to aim for (default 0: as fast as the window allows)",
    )
    parser.add_argument("--port", type=int, default=None, help="runtime port (default: a free port)")
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"Markdown report (default {DEFAULT_OUTPUT})"
    )
    parser.add_argument(
        "--warmup", type=int, default=5, help="unmeasured messages sent first, to warm up the runtime (default 5)"
    )
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="seconds for sending and delivery, per phase (default 180)"
    )
    parser.add_argument("--startup-timeout", type=float, default=60.0, help="seconds to wait for /healthz (default 60)")
    parser.add_argument(
        "--route-ms", type=float, default=DEFAULT_ROUTE_MS, help="assumed Lambda duration of route handlers"
    )
    parser.add_argument(
        "--consumer-ms", type=float, default=DEFAULT_CONSUMER_MS, help="assumed Lambda duration of stream consumers"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(
            f"--clients must be 1..{MAX_CLIENTS}: the demo has {len(DEMO_USERS)} users and the runtime allows at "
            f"most {MAX_CONNECTIONS_PER_USER} connections per user"
        )
    if args.messages < 1:
        parser.error("--messages must be at least 1")
    if args.rate < 0:
        parser.error("--rate must be 0 (unpaced) or more")
    if args.warmup < 0:
        parser.error("--warmup must be 0 or more")
    if args.window < 1:
        parser.error("--window must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runtime = Runtime("127.0.0.1", args.port or free_port())
    failed = True
    try:
        result = asyncio.run(run(args, runtime))
        failed = not result.complete
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
    report = render(result, args.route_ms, args.consumer_ms)
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    log(f"wrote {args.output}")
    return 0 if result.complete else 1


if __name__ == "__main__":
    sys.exit(main())
