"""The benchmark's load: clients of the Python SDK (`tidings_client`) sending messages and
timing acks and deliveries, and the `/_local/stats` counters before and after."""

from __future__ import annotations

import asyncio
import functools
import math
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tidings.kernel.connections_api import DELIVERY_RETRIES
from tidings.notifications.declaration import NOTIFICATION_RETRIES, PUSH_JOBS
from tidings_client import ConnectionState, TidingsClient, TidingsError
from tidings_client.frames import Frame, payload_of
from tidings_client.transport import Connection, Transport, WebSocketTransport
from tidings_local.bench_runtime import BenchError, log

DEMO_USERS = ("alice", "bob", "carol", "dave", "erin")
CHAT_ID = "general"
MAX_CONNECTIONS_PER_USER = 5
MAX_CLIENTS = len(DEMO_USERS) * MAX_CONNECTIONS_PER_USER
API_GATEWAY_UNIT_BYTES = 32 * 1024
# The frames the load is about; any other one the clients get is listed in the report.
MEASURED_FRAMES = frozenset({"ack", "message.new"})

# --- measurement ----------------------------------------------------------------------------


@dataclass
class Pending:
    """One benchmark message, from its `send()` to its last delivery."""

    index: int
    frame_id: str
    content: str
    sender: int
    sent_at: float = 0.0
    acked_at: float | None = None
    failed: str | None = None
    message_id: str | None = None
    receipts: dict[int, float] = field(default_factory=dict)

    def delivered_at(self, receivers: int) -> float | None:
        return max(self.receipts.values()) if len(self.receipts) >= receivers else None


@dataclass
class Client:
    index: int
    user_id: str
    sdk: TidingsClient


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


class _MeteredConnection:
    """The SDK's connection, telling `sized` the bytes of every frame each way."""

    def __init__(self, inner: Connection, sized: Callable[[str, int], None]) -> None:
        self._inner = inner
        self._sized = sized

    async def send(self, text: str) -> None:
        await self._inner.send(text)
        self._sized("in", len(text.encode("utf-8")))  # into API Gateway

    async def recv(self) -> str:
        text = await self._inner.recv()
        self._sized("out", len(text.encode("utf-8")))
        return text

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._inner.close(code, reason)


class MeteredTransport:
    """A `Transport` whose connections report their frame sizes (for the API Gateway units)."""

    def __init__(self, sized: Callable[[str, int], None], inner: Transport | None = None) -> None:
        self._inner = inner or WebSocketTransport()
        self._sized = sized

    async def connect(self, url: str, headers: dict[str, str], timeout: float) -> Connection:
        return _MeteredConnection(await self._inner.connect(url, headers, timeout), self._sized)


class Bench:
    """Sends the messages of one phase through the SDK clients and matches acks and
    deliveries to them.

    Each client is a `TidingsClient` as an app would run it: its `send()` goes through the
    outbox (one message per chat in flight per connection, the same frame id on every retry,
    RATE_LIMITED waited out), and its `message.new` handler gets the chat's events in seq
    order, once (the sender's own from its ack). `begin` starts a new phase (warm-up, then
    measurement) and forgets everything about the previous one, so late frames of the warm-up
    are ignored."""

    def __init__(self, window: int, rate: float) -> None:
        self.clients: list[Client] = []
        self.window_size = window
        self.rate = rate
        self.closing = False
        self.closed: list[str] = []
        self.begin(0)

    async def connect(
        self,
        url: str,
        users: list[str],
        token_of: Callable[[str], str],
        transport: Transport | None = None,
        **options: Any,
    ) -> None:
        """One SDK client per entry of `users`, connected (`options` go to `TidingsClient`;
        `transport`, metered, defaults to WebSockets)."""
        for index, user_id in enumerate(users):
            metered = MeteredTransport(self._sized, transport)
            sdk = TidingsClient(url, token_of(user_id), transport=metered, **options)
            client = Client(index, user_id, sdk)
            sdk.on("message.new", functools.partial(self._on_delivery, index))
            sdk.on("ack", self._on_ack)
            sdk.on("*", self._on_any)
            sdk.on_state(functools.partial(self._on_state, client))
            self.clients.append(client)
            try:
                await sdk.connect(timeout=30)
                if sdk.api_url:
                    await self._track_from_head(sdk)
            except TidingsError as exc:
                raise BenchError(f"connection {index} as {user_id} failed: {exc}") from exc

    @staticmethod
    async def _track_from_head(sdk: TidingsClient) -> None:
        """Tracks the chat from its `headSeq`, as an app does after loading it: an untracked chat
        starts at the first event the SDK sees, which may be the client's own ack, and the
        others' earlier messages would then be taken for history."""
        for chat in await sdk.rest.chats():
            if chat.get("chatId") == CHAT_ID:
                sdk.track(CHAT_ID, int(chat["headSeq"]))
                return
        raise BenchError(f"{CHAT_ID!r} is not among the chats of a bench user")

    async def close(self) -> None:
        self.closing = True
        for client in self.clients:
            await client.sdk.close()

    def begin(self, messages: int) -> None:
        for task in getattr(self, "_sends", ()):
            task.cancel()  # a timed-out phase's sends
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
        self._sends: set[asyncio.Task[None]] = set()

    # -- receiving --

    def _sized(self, direction: str, size: int) -> None:
        (self.frames_in if direction == "in" else self.frames_out).add(size)

    def _on_any(self, frame: Frame) -> None:
        kind = frame.get("type")
        if kind not in MEASURED_FRAMES:
            self.other_frames[str(kind)] += 1

    def _on_ack(self, frame: Frame) -> None:
        """Error acks of our messages, by code (the SDK retries RATE_LIMITED and INTERNAL itself)."""
        payload = payload_of(frame)
        if payload.get("status") == "error" and str(payload.get("refId")) in self.by_frame_id:
            self.errors[str((payload.get("error") or {}).get("code", "UNKNOWN"))] += 1

    def _on_state(self, client: Client, state: ConnectionState, _previous: ConnectionState) -> None:
        if state in (ConnectionState.RECONNECTING, ConnectionState.CLOSED) and not self.closing:
            info = client.sdk.close_info
            code = info.code if info is not None else "?"
            self.closed.append(f"{client.user_id}#{client.index} (close code {code}, then {state})")

    def _on_delivery(self, receiver: int, frame: Frame) -> None:
        now = time.perf_counter()
        payload = payload_of(frame)
        if payload.get("chatId") != CHAT_ID:
            return
        message = payload.get("message") or {}
        pending = self.by_content.get(str(message.get("content")))
        if pending is None or receiver in pending.receipts:
            return  # not ours (the SDK already drops duplicates)
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

    async def _send(self, pending: Pending, window: asyncio.Semaphore) -> None:
        try:
            message = await self.clients[pending.sender].sdk.send(CHAT_ID, pending.content, id=pending.frame_id)
        except TidingsError as exc:
            pending.failed = f"{exc.code}: {exc}"
            self.resolved += 1
            self._check_done()
            return
        finally:
            window.release()
        now = time.perf_counter()
        pending.acked_at = now
        pending.message_id = message.get("messageId")
        self.last_ack = now
        self.acked += 1
        self._maybe_resolve(pending)

    async def send_all(self, label: str) -> None:
        self.start = time.perf_counter()
        window = self.window
        for index in range(self.total):
            if self.rate > 0:
                await asyncio.sleep(max(0.0, self.start + index / self.rate - time.perf_counter()))
            await window.acquire()
            frame_id = str(uuid.uuid4())
            content = f"bench {label} #{index} {frame_id}"
            pending = Pending(index, frame_id, content, index % len(self.clients))
            self.by_frame_id[frame_id] = pending
            self.by_content[content] = pending
            pending.sent_at = time.perf_counter()
            self.sent += 1
            task = asyncio.create_task(self._send(pending, window))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

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


# The queues that carry a message's own later work (a connection's retried frames, the
# notification step's retry, push jobs); the timer queues (presence, tokens) hold a connection's
# timers for minutes and are no message's work.
MESSAGE_WORK_QUEUES = (DELIVERY_RETRIES.id, NOTIFICATION_RETRIES.id, PUSH_JOBS.id)


@dataclass
class Drained:
    """The counters once the work of the messages was done, or when `max_wait` ran out."""

    stats: dict[str, Any]
    idle: bool
    waited: float  # seconds
    busy: list[str]  # what was still running when the wait ran out (empty when idle)


def still_running(stats: dict[str, Any], queues: Sequence[str] = MESSAGE_WORK_QUEUES) -> list[str]:
    """What `activity` in a `/_local/stats` snapshot says is not done yet."""
    activity = stats.get("activity")
    if not isinstance(activity, dict):
        return ["the runtime reports no activity"]
    busy = []
    if activity.get("invocationsInFlight"):
        busy.append(f"{activity['invocationsInFlight']} invocation(s) in flight")
    busy += [
        f"{count} stream record(s) for {function}"
        for function, count in (activity.get("streamRecordsPending") or {}).items()
        if count
    ]
    busy += [
        f"{count} message(s) on {queue}"
        for queue, count in (activity.get("queueMessages") or {}).items()
        if count and queue in queues
    ]
    return busy


def _counters(stats: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in stats.items() if key != "activity"}


async def drained_stats(session: aiohttp.ClientSession, base_url: str, max_wait: float) -> Drained:
    """A snapshot taken once the consumers are idle: no invocation in flight, no stream record
    waiting for its consumer, no message on the `MESSAGE_WORK_QUEUES`, in two snapshots 0.3 s
    apart whose counters agree; or the last one when `max_wait` runs out."""
    started = time.monotonic()
    previous = await fetch_stats(session, base_url)
    while True:
        await asyncio.sleep(0.3)
        current = await fetch_stats(session, base_url)
        busy = still_running(current)
        waited = time.monotonic() - started
        if not busy and not still_running(previous) and _counters(current) == _counters(previous):
            return Drained(current, True, waited, [])
        if waited >= max_wait:
            return Drained(current, False, waited, busy or ["the counters were still moving"])
        previous = current


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
