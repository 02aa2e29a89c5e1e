"""`python -m tidings_local.bench_presence`: how fast a presence change reaches its subscribers,
and what it costs, measured on the local runtime.

Method
------
1. Start `tidings dev --demo` (as `tidings_local.bench` does) and wait for `/healthz`.
2. Put S subscribers (`--subscribers`, default 10; users `watcher-0`, ...) in one chat with the
   user `subject` (`POST /_local/chats`: only those who share a chat may watch a user's
   presence), connect them as clients of the Python SDK (`tidings_client`), each subscribing
   to `subject` (`subscribe_presence`). A change counts as delivered when the SDK hands the
   subscriber's `presence.changed` to its handler.
3. One unmeasured change pair (subject connects, then closes), so cold starts are not measured.
4. Snapshot `/_local/stats`, then K times (`--rounds`, default 10): the subject connects, and
   we wait until every subscriber got `presence.changed available`; the subject closes, and we
   wait for `offline` everywhere. The subject is an SDK client too (`connect()`, `close()`).
   Each wait starts when the subject's connect (or close) starts, and each change is
   delivered before the next begins, so no two are batched together.
5. Snapshot the stats again: AWS calls and Lambda invocations per change (2K changes). They
   include what a connect and a disconnect cost anyway (authorizer, connection item, token
   timer), not only presence.

The protocol asks for every presence change within 3 s (docs/protocol.md, "Presence"); the 2 s
batching window is most of that. Like `tidings_local.bench`, this measures the emulator on this
machine, not AWS; the counts per change are the transferable part. Nothing is asserted: it
exits non-zero only if it could not finish.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from tidings_client import TidingsClient
from tidings_client.frames import Frame, payload_of
from tidings_local.bench_cost import percentile
from tidings_local.bench_load import StatsDelta, settled_stats, stats_delta
from tidings_local.bench_report import _git_revision, _ms, _nproc, _table
from tidings_local.bench_runtime import BenchError, Runtime, log, run_benchmark

SUBJECT = "subject"
DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "benchmarks-presence.md"


@dataclass
class Watcher:
    user_id: str
    client: TidingsClient
    statuses: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, status)

    def on_presence(self, frame: Frame) -> None:
        payload = payload_of(frame)
        if payload.get("userId") == SUBJECT:
            self.statuses.append((time.monotonic(), str(payload.get("status"))))

    def first_after(self, started: float, status: str) -> float | None:
        return next((at for at, s in self.statuses if at >= started and s == status), None)


@dataclass
class Result:
    subscribers: int
    rounds: int
    to_all_ms: list[float]
    per_subscriber_ms: list[float]
    delta: StatsDelta
    wall_seconds: float


async def _connect(runtime: Runtime, user_id: str, timeout: float) -> TidingsClient:
    client = TidingsClient(runtime.ws_url, runtime.token(user_id))
    await client.connect(timeout=timeout)
    return client


async def _until_delivered(watchers: list[Watcher], started: float, status: str, timeout: float) -> list[float]:
    deadline = time.monotonic() + timeout
    while True:
        arrivals = [w.first_after(started, status) for w in watchers]
        if all(at is not None for at in arrivals):
            return [(at - started) * 1000 for at in arrivals if at is not None]
        if time.monotonic() > deadline:
            raise BenchError(f"`{status}` did not reach every subscriber within {timeout:.0f} s")
        await asyncio.sleep(0.01)  # arrival times are stamped by the readers, not by this poll


async def _change(runtime: Runtime, watchers: list[Watcher], timeout: float) -> list[list[float]]:
    """The subject connects, then closes: two changes, each waited for everywhere."""
    started = time.monotonic()
    subject = await _connect(runtime, SUBJECT, timeout)
    online = await _until_delivered(watchers, started, "available", timeout)
    started = time.monotonic()
    await subject.close()
    offline = await _until_delivered(watchers, started, "offline", timeout)
    return [online, offline]


async def run(args: argparse.Namespace, runtime: Runtime) -> Result:
    runtime.start()
    async with aiohttp.ClientSession() as session:
        await runtime.wait_healthy(session, args.startup_timeout)
        members = [SUBJECT, *(f"watcher-{index}" for index in range(args.subscribers))]
        chat = {"chatId": "bench-presence", "type": "group", "members": members}
        async with session.post(f"{runtime.base_url}/_local/chats", json=chat) as response:
            response.raise_for_status()
        watchers: list[Watcher] = []
        for index in range(args.subscribers):
            watcher = Watcher(f"watcher-{index}", await _connect(runtime, f"watcher-{index}", args.timeout))
            watcher.client.on("presence.changed", watcher.on_presence)
            watchers.append(watcher)
            await watcher.client.subscribe_presence([SUBJECT])
        await _until_delivered(watchers, 0.0, "offline", args.timeout)  # every snapshot is in
        await _change(runtime, watchers, args.timeout)  # warm-up
        before = await settled_stats(session, runtime.base_url)
        started = time.monotonic()
        to_all: list[float] = []
        per_subscriber: list[float] = []
        for round_ in range(args.rounds):
            for latencies in await _change(runtime, watchers, args.timeout):
                to_all.append(max(latencies))
                per_subscriber.extend(latencies)
            log(f"round {round_ + 1}/{args.rounds}: p50 so far {_ms(percentile(to_all, 0.5))}")
        wall = time.monotonic() - started
        after = await settled_stats(session, runtime.base_url)
        for watcher in watchers:
            await watcher.client.close()
    return Result(args.subscribers, args.rounds, to_all, per_subscriber, stats_delta(before, after), wall)


def render(result: Result, command: str) -> str:
    changes = 2 * result.rounds
    lines = [
        "# Presence benchmark",
        "",
        "<!-- Generated by `python -m tidings_local.bench_presence`; do not edit by hand. -->",
        "",
        "> **This is the local emulator** (`tidings dev`: each function in its own worker processes, "
        "DynamoDB and Streams on moto). "
        "Latencies say how fast the emulator runs on this machine, **not** AWS latencies; the calls "
        "per change are the transferable part.",
        "",
        "## Setup",
        "",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {_nproc()} CPUs, {platform.system()} {platform.machine()}, Python {platform.python_version()}",
        f"- Code: {_git_revision()}",
        f"- Workload: {result.subscribers} subscribers (one connection each) of one user, who connects and "
        f"closes {result.rounds} times: {changes} changes, each delivered before the next starts",
        f"- Command: `{command}`",
        "",
        "## Change → delivered (the protocol: within 3 s, batched over 2 s windows)",
        "",
    ]
    rows = [
        [
            f"change → delivered to all {result.subscribers} subscribers",
            _ms(percentile(result.to_all_ms, 0.5)),
            _ms(percentile(result.to_all_ms, 0.99)),
            _ms(max(result.to_all_ms, default=None)),
            str(len(result.to_all_ms)),
        ],
        [
            "change → delivered, per subscriber",
            _ms(percentile(result.per_subscriber_ms, 0.5)),
            _ms(percentile(result.per_subscriber_ms, 0.99)),
            _ms(max(result.per_subscriber_ms, default=None)),
            str(len(result.per_subscriber_ms)),
        ],
    ]
    lines += _table(["latency", "p50", "p99", "max", "samples"], rows, right={1, 2, 3, 4})
    within = sum(1 for value in result.to_all_ms if value <= 3000)
    lines += ["", f"{within} of {len(result.to_all_ms)} changes reached every subscriber within 3 s.", ""]
    lines += [
        f"## AWS calls and invocations per change ({changes} changes)",
        "",
        "Everything the handlers called, including the connect's and disconnect's own work "
        "(authorizer, connection item, token timer). The presence part: one GetItem and one "
        "PutItem on Presence per change, one Query of the subscriptions, one `byUser` Query "
        "and one PostToConnection per subscriber (docs/architecture.md, Presence).",
        "",
    ]
    call_rows = [
        [service, operation, str(count), f"{count / changes:.3f}"]
        for (service, operation), count in result.delta.aws_calls.items()
    ]
    lines += _table(["service", "operation", "calls", "per change"], call_rows, right={2, 3})
    lines.append("")
    invocation_rows = [
        [function, str(count), f"{count / changes:.3f}"] for function, count in result.delta.invocations.items()
    ]
    lines += _table(["function", "invocations", "per change"], invocation_rows, right={1, 2})
    lines.append("")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tidings_local.bench_presence", description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=10, help="subscribers of the changing user (1-100)")
    parser.add_argument("--rounds", type=int, default=10, help="connect/close rounds (two changes each)")
    parser.add_argument("--port", type=int, default=0, help="runtime port (0: a free one)")
    parser.add_argument("--timeout", type=float, default=30, help="seconds to wait for one change everywhere")
    parser.add_argument("--startup-timeout", type=float, default=90)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if not 1 <= args.subscribers <= 100 or args.rounds < 1:
        parser.error("--subscribers must be 1 to 100 and --rounds at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m tidings_local.bench_presence " + " ".join(argv if argv is not None else sys.argv[1:])
    return run_benchmark(
        args.port, lambda runtime: run(args, runtime), lambda result: render(result, command.strip()), args.output
    )


if __name__ == "__main__":
    sys.exit(main())
