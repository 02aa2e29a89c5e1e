"""The benchmark's results and the cost model that prices them: AWS list prices, assumed
request units and durations, dollars per million messages."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from datetime import datetime

from tidings.app import APPLICATION
from tidings_local.bench_load import Bench, Drained, Pending, StatsDelta

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
    drained: Drained | None = None  # how the wait for the consumers' work ended

    def recipient_connections(self) -> int:
        """(message, connection of one of its recipients) pairs: at most one badge each."""
        clients = self.bench.clients
        return sum(1 for p in self.ok for client in clients if client.user_id != clients[p.sender].user_id)

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
