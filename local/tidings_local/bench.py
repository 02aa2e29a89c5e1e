"""`python -m tidings_local.bench`: what one message costs, measured on the local runtime.

Method
------
1. Start `tidings dev --demo` as a subprocess on a free port and wait for `GET /healthz` → 200.
2. Connect N clients of the Python SDK (`tidings_client.TidingsClient`, `--clients`, default 5)
   as the five demo users, round-robin (alice, bob, carol, dave, erin, alice, ...), at most 5
   per user (the protocol's connection limit), so N ≤ 25. Every demo user is a member of the
   channel `general`; each client tracks it from its `headSeq` (`GET /api/chats`), as an app
   does after loading the chat. They are clients as an app runs them (hello, heartbeat, outbox, seq
   order, gap-fill), so what they cost the server is measured too: a chat event held behind a
   missing seq for 1 s makes the SDK ask `sync.request` for it. Under this load deliveries lag
   behind the acks (a sender has its own message from the ack, seconds before the others'
   arrive), and a send re-sent after 5 s without an ack leaves a seq hole (the server answers
   the retry with the first message), so the report's `Sync` invocations are real client cost.
3. Send `--warmup` messages (default 5) and wait for their delivery, so one-off work (imports,
   first connections to moto, the signing key fetch) is not measured: on AWS it is a cold start,
   not a per-message cost.
4. Snapshot `GET /_local/stats`, then `send()` M messages (`--messages`, default 200) to
   `general`, from the clients round-robin, with at most `--window` of them not yet acked at any
   time (and, with `--rate`, no faster than that many per second). The SDK sends a chat's
   messages one at a time per connection, so at most one per client is in flight; the rest of
   the window waits in the clients' outboxes, as an app's messages would. For each message
   record:
   - send → ack: from the `send()` call until it returns the stored message;
   - send → delivery: until *every* client (the sender's included, whose handlers get its own
     message from the ack) has handed `message.new` for it to its handler; per-receiver
     latencies (one per message per client) too.
   Deliveries are matched by content (each message carries its own frame id). The SDK retries
   `RATE_LIMITED` and server faults with the same frame id (idempotent per the protocol); the
   error acks are counted, and latency stays measured from the `send()` call, as an app sees it.
5. Once every message is acked and delivered (or `--timeout` runs out), wait until the work the
   messages caused is done too: the last `message.new` arrives while the Delivery consumer is
   still doing the notification step (badges, toasts, push jobs) of the messages before it.
   The runtime reports what is still running (`/_local/stats` → `activity`: invocations in
   flight, stream records not yet handed to their consumer, messages on the delivery retry,
   notification retry and push queues); the wait ends when two snapshots 0.3 s apart show none
   and the same counters, or after `--settle-timeout` (the report says which, and how many
   `notification.badge` frames arrived of the one per message per recipient connection
   expected). The same wait comes after the warm-up, so its late work is not counted. Then
   snapshot `/_local/stats` again. The difference, divided by M, is:
   AWS API calls per message by service and operation (everything the Lambda handlers called),
   Lambda invocations per message by function, and API Gateway frames in/out per message.
6. Price those per-message counts with AWS list prices (`PRICE_TABLE`, `DYNAMODB_UNITS`, Lambda
   memory from `tidings.app.APPLICATION`, assumed durations) into dollars per million messages.
7. Print a Markdown report to stdout and write it to `docs/benchmarks.md`.

The pieces: `bench_runtime.py` (the `tidings dev` child process), `bench_load.py` (clients, load,
stats deltas), `bench_cost.py` (results and the price model), `bench_report.py` (the Markdown);
this module runs them (`run`) and is the command line.

Caveats
-------
- This is the local emulator: each function in worker processes on this machine, DynamoDB and
  Streams on moto behind one lock. Latency and throughput numbers say how fast the emulator is on this machine,
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
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from tidings_local.bench_cost import DEFAULT_CONSUMER_MS, DEFAULT_ROUTE_MS, Result
from tidings_local.bench_load import (
    DEMO_USERS,
    MAX_CLIENTS,
    MAX_CONNECTIONS_PER_USER,
    Bench,
    drained_stats,
    progress,
    stats_delta,
)
from tidings_local.bench_report import render
from tidings_local.bench_runtime import BenchError, Runtime, log, run_benchmark

DEFAULT_OUTPUT = Path("docs/benchmarks.md")


# --- orchestration --------------------------------------------------------------------------


def user_assignment(clients: int) -> list[str]:
    """Client i connects as DEMO_USERS[i % 5]: spread evenly, at most 5 connections per user."""
    return [DEMO_USERS[i % len(DEMO_USERS)] for i in range(clients)]


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
        bench = Bench(args.window, args.rate)
        try:
            await bench.connect(runtime.ws_url, users, runtime.token)
            if args.warmup:
                log(f"warming up with {args.warmup} messages (not measured)…")
                if not await run_phase(bench, args.warmup, "warmup", args.timeout):
                    raise BenchError("the warm-up messages were not all acked and delivered; see the log above")

            before = (await drained_stats(session, runtime.base_url, args.settle_timeout)).stats
            log(f"sending {args.messages} messages (window {args.window}, timeout {args.timeout:g} s)…")
            complete = await run_phase(bench, args.messages, "run", args.timeout)
            if not complete:
                log("reporting what was measured")
            log(f"waiting for the consumers to finish the messages' work (at most {args.settle_timeout:g} s)…")
            drained = await drained_stats(session, runtime.base_url, args.settle_timeout)
            log(
                f"idle after {drained.waited:.1f} s"
                if drained.idle
                else f"still busy after {drained.waited:.1f} s: {'; '.join(drained.busy)}"
            )
        finally:
            await bench.close()

    return Result(
        args=args,
        port=runtime.port,
        started_at=started_at,
        complete=complete,
        bench=bench,
        delta=stats_delta(before, drained.stats),
        drained=drained,
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
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=300.0,
        help="seconds to wait, after the last delivery, for the consumers to go idle (default 300)",
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
    return run_benchmark(
        args.port,
        lambda runtime: run(args, runtime),
        lambda result: render(result, args.route_ms, args.consumer_ms),
        args.output,
        complete=lambda result: result.complete,
    )


if __name__ == "__main__":
    sys.exit(main())
