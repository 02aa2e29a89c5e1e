"""The benchmark's load: WebSocket clients sending `message.send` and timing acks and
deliveries, and the `/_local/stats` counters before and after."""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from tidings_local.bench_runtime import BenchError, log

DEMO_USERS = ("alice", "bob", "carol", "dave", "erin")
CHAT_ID = "general"
MAX_CONNECTIONS_PER_USER = 5
MAX_CLIENTS = len(DEMO_USERS) * MAX_CONNECTIONS_PER_USER
MAX_RATE_LIMIT_RETRIES = 50
API_GATEWAY_UNIT_BYTES = 32 * 1024

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
