"""`python -m tidings_local.bench_fanout` (`make bench-fanout`): what one message to a chat of N
members costs the Delivery consumer, and how long it would take on AWS.

Method
------
For each size N (`--sizes`, default 2, 10, 100, 1,000, 10,000), in this process, on moto:

1. The application's tables, queues and secrets are provisioned as `tidings dev` provisions them
   (`LocalAws`, which starts moto in this process), and a channel of N members is written with
   the items `tidings dev --seed` writes for one.
2. `--online` of the members (a fraction, default 1.0) have one connection each: its record, as
   `$connect` writes it, then as `hello` leaves it (`--protocol`, default 2, the version the
   SDKs say; 1 is a connection that never said hello). The @connections API is a counter that
   accepts every post, standing for connected clients (what is measured is our side: the calls
   the consumer makes).
3. One member sends one message through the message service, as the MessageSend function does,
   and the Delivery consumer is invoked once with that message's stream record, as the event
   source mapping invokes it.
4. A chat of more than `SHARD_ABOVE_MEMBERS` members or `SHARD_ABOVE_CONNECTIONS` connections
   is handed to the `FanoutShards` queue in message shards (`tidings.messaging.fanout_shards`),
   each a worker's share of the notification work and the posts: each shard job on the queue is
   then given to the fan-out worker (`fanout_worker.py`), one invocation a shard, as the event
   source mapping does with batch size 1.
5. Every AWS call the consumer and the workers make is counted by service and operation (and
   in DynamoDB request units: a BatchGetItem reads as many items as it names), every post by
   frame type.

The AWS time is modelled from that sequence, with the latencies below: each AWS call one after
another, as the consumer makes them, but the items of a `bounded_map` (the recipients'
notification writes) on as many threads as it has, each item's calls one after another; and each
batch of posts (`Deliveries.deliver`) in parallel, `POST_CONCURRENCY` at a time, each
connection's frames one after another. "To the last
`message.new`" stops at the end of the batch that posted it; "whole record" includes the
notification work (badges, toasts, push jobs) after it. An unsharded chat's message is decided
first and posted with its notices in one batch (one frame per connection on protocol v2, the
separate frames after `message.new` on v1), so there the two are the same. A sharded chat's
shards run in parallel (one worker each, as Lambda scales a
queue's consumer out): its last `message.new` is the consumer's time until it sent the shards,
plus the queue's hand-off (`HANDOFF_MS`), plus the slowest shard's own time; the whole record
is the later of that and the consumer's end. Every shard job runs to its end in this process
before anything is added up, so the counts and the whole record include all a worker does.
Dollars per million messages price the counted units at list prices (`bench_cost`); the floor
is what API Gateway itself charges, one message per online recipient connection.
`--compare` sizes are measured again on the other protocol version, for a side-by-side of the
posts and dollars per message on each.

Results go to stdout and `docs/benchmarks-fanout.md`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.client
from botocore.config import Config

from tidings.app import APPLICATION
from tidings.chats import compose as chats
from tidings.chats.models import ChatModel, MemberModel, UserModel
from tidings.kernel import connections_api, ratelimits
from tidings.kernel.declaration import CALLBACK_URL_ENV
from tidings.kernel.environment import ColdStart, environment_of
from tidings.kernel.observability import logger
from tidings.messaging import compose as messaging
from tidings.messaging.declaration import FANOUT_SHARDS, MESSAGE_SEND
from tidings.messaging.fanout_shards import (
    SHARD_ABOVE_CONNECTIONS,
    SHARD_ABOVE_MEMBERS,
    SHARD_CONNECTIONS,
    SHARD_MEMBERS,
)
from tidings.messaging.models import MessageModel
from tidings.messaging.sending import SendMessage
from tidings.notifications import notifying
from tidings.sessions.connection_store import DynamoConnectionStore
from tidings.sessions.session_service import SUPPORTED_VERSIONS
from tidings_local.aws import LocalAws
from tidings_local.bench_cost import (
    API_GATEWAY_WS_MESSAGES_PER_MILLION,
    DYNAMODB_RRU_PER_MILLION,
    DYNAMODB_WRU_PER_MILLION,
    PRICES_AS_OF,
    PRICES_REGION,
    SQS_REQUESTS_PER_MILLION,
)
from tidings_local.handler_modules import LambdaContext, load_handler_module
from tidings_local.lambdas import default_functions_dir
from tidings_local.queues import lambda_record as queue_record
from tidings_local.streams import lambda_record

DEFAULT_SIZES = (2, 10, 100, 1_000, 10_000)
# The protocol version every connection speaks (`hello`), and the sizes also measured on the other.
DEFAULT_PROTOCOL = 2
COMPARE_UP_TO = 1_000  # `--compare` by default: the sizes up to this
BENCH_CLIENT = "bench-fanout/1.0"  # the `client` its hello names
RESULTS = Path("docs/benchmarks-fanout.md")

# Stated per-call latencies from Lambda in the same region (milliseconds): assumptions, not
# measurements; change them here and the model follows.
LATENCY_MS = {"read": 5.0, "write": 8.0, "sqs": 10.0, "post": 20.0, "other": 10.0}
# What the table said before big chats were sharded, for comparison.
BEFORE = (
    "revision 9c93fe3 (one invocation posted every connection): last `message.new` 1,323 ms at "
    "1,000 members and 13,018 ms at 10,000; whole record 7,198 ms and 71,523 ms"
)
# From a SendMessageBatch on the shard queue to the worker's invocation (the mapping long-polls).
HANDOFF_MS = 50.0
READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


@dataclass
class _Timeline:
    """What the consumer did, in order: AWS calls and batches of posts."""

    steps: list[tuple[str, Any]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    read_units: int = 0
    write_units: int = 0
    sqs_requests: int = 0
    posts: Counter[str] = field(default_factory=Counter)
    largest_post: int = 0  # bytes: API Gateway bills a message per 32 KB
    handoff_step: int | None = None  # the step that sent the shards, if the chat was sharded
    shards: list[_Timeline] = field(default_factory=list)  # each shard's worker invocation

    def call(self, service: str, operation: str, params: dict[str, Any]) -> None:
        self.calls[f"{service} {operation}"] += 1
        if operation in READS:
            self.read_units += _items_named(operation, params)
            kind = "read"
        elif operation in WRITES:
            self.write_units += _items_named(operation, params)
            kind = "write"
        elif service == "sqs":
            self.sqs_requests += 1
            kind = "sqs"
            if params.get("QueueUrl") == os.environ.get(FANOUT_SHARDS.env_var):
                self.handoff_step = len(self.steps)
        else:
            kind = "other"
        item = getattr(_current_item, "calls", None)
        if item is not None:  # inside one item of a `bounded_map`: that item's time
            item.append(LATENCY_MS[kind])
        else:
            self.steps.append((kind, 1))

    def parallel(self, concurrency: int, item_ms: list[float]) -> None:
        self.steps.append(("parallel", (concurrency, item_ms)))

    def batch(self, targets: Sequence[tuple[str, Sequence[str]]]) -> None:
        longest = max((len(frames) for _, frames in targets), default=0)
        for _, frames in targets:
            for data in frames:
                self.posts[_frame_type(data)] += 1
                self.largest_post = max(self.largest_post, len(data.encode()))
        carries_message = any('"message.new"' in data for _, frames in targets for data in frames)
        self.steps.append(("posts", (len(targets), longest, carries_message)))

    def modelled_ms(self, *, until_message: bool) -> float:
        """The consumer's own time, or for a sharded chat the shards' too (see the docstring)."""
        if not self.shards:
            return self._own_ms(until_message=until_message)
        slowest = max(shard.modelled_ms(until_message=until_message) for shard in self.shards)
        sharded = self._own_ms(until_message=False, steps=self.handoff_step) + HANDOFF_MS + slowest
        return sharded if until_message else max(sharded, self._own_ms(until_message=False))

    def consumer_ms(self) -> float:
        """The Delivery consumer's own time on the record (a sharded chat's until it handed the
        shards off): how long the record holds its batch sequence, so what the next record of a
        chat in the same sequence waits."""
        return self._own_ms(until_message=False)

    def totals(self) -> _Timeline:
        """The consumer's counts with every shard's added."""
        whole = _Timeline(calls=Counter(self.calls), posts=Counter(self.posts))
        whole.read_units, whole.write_units, whole.sqs_requests = self.read_units, self.write_units, self.sqs_requests
        whole.largest_post = self.largest_post
        for shard in self.shards:
            whole.calls.update(shard.calls)
            whole.posts.update(shard.posts)
            whole.read_units += shard.read_units
            whole.write_units += shard.write_units
            whole.sqs_requests += shard.sqs_requests
            whole.largest_post = max(whole.largest_post, shard.largest_post)
        return whole

    def _own_ms(self, *, until_message: bool, steps: int | None = None) -> float:
        total = 0.0
        for kind, detail in self.steps[: None if steps is None else steps + 1]:
            if kind == "parallel":
                concurrency, item_ms = detail
                total += _makespan(item_ms, concurrency)
            elif kind == "posts":
                targets, longest, carries_message = detail
                rounds = math.ceil(targets / connections_api.POST_CONCURRENCY) if targets else 0
                total += rounds * longest * LATENCY_MS["post"]
                if until_message and carries_message:
                    return total
            else:
                total += LATENCY_MS[kind]
        return total


def _makespan(durations: list[float], workers: int) -> float:
    """How long `durations` take on `workers` threads, each taking the next item when free."""
    ends = [0.0] * max(1, min(workers, len(durations)))
    for duration in durations:
        ends[ends.index(min(ends))] += duration
    return max(ends, default=0.0)


_current_item = threading.local()  # the calls of the `bounded_map` item this thread runs


def _items_named(operation: str, params: dict[str, Any]) -> int:
    if operation == "BatchGetItem":
        return sum(len(request.get("Keys", [])) for request in params.get("RequestItems", {}).values())
    if operation == "BatchWriteItem":
        return sum(len(requests) for requests in params.get("RequestItems", {}).values())
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return 2 * len(params.get("TransactItems", []))  # transactions cost two units an item
    return 1


def _frame_type(data: str) -> str:
    start = data.find('"type":"')
    if start < 0:
        start = data.find('"type": "')
        start = start + 9 if start >= 0 else -1
    else:
        start += 8
    return data[start : data.find('"', start)] if start >= 0 else "?"


class _CountingPoster:
    """The @connections API as connected clients see it: every post arrives."""

    def post(self, connection_id: str, data: str) -> bool:
        return True

    def close(self, connection_id: str) -> bool:
        return True


@contextmanager
def _recording(timeline: _Timeline | Callable[[], _Timeline]) -> Iterator[None]:
    """Records into `timeline` (or into whichever timeline the callable says is current)."""
    current = timeline if callable(timeline) else (lambda: timeline)
    real_call = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]
    real_deliver = connections_api.Deliveries.deliver
    real_map = notifying.bounded_map

    def bounded_map(call: Callable[[Any], Any], items: Sequence[Any], concurrency: int, name: str) -> list[Any]:
        item_ms: list[float] = []

        def traced(item: Any) -> Any:
            calls: list[float] = []
            _current_item.calls = calls
            try:
                return call(item)
            finally:
                _current_item.calls = None
                item_ms.append(sum(calls))

        try:
            return real_map(traced, items, concurrency, name)
        finally:
            current().parallel(concurrency, item_ms)

    def call(client: Any, operation: str, params: dict[str, Any]) -> Any:
        current().call(client.meta.service_model.service_name, operation, params)
        return real_call(client, operation, params)

    def deliver(self: Any, targets: Sequence[tuple[str, Sequence[str]]], *args: Any, **kwargs: Any) -> Any:
        current().batch(targets)
        return real_deliver(self, targets, *args, **kwargs)

    botocore.client.BaseClient._make_api_call = call  # type: ignore[attr-defined]
    connections_api.Deliveries.deliver = deliver  # type: ignore[method-assign]
    notifying.bounded_map = bounded_map
    try:
        yield
    finally:
        botocore.client.BaseClient._make_api_call = real_call  # type: ignore[attr-defined]
        connections_api.Deliveries.deliver = real_deliver  # type: ignore[method-assign]
        notifying.bounded_map = real_map


@contextmanager
def _quiet() -> Iterator[None]:
    """No handler log lines or metric documents between the benchmark's own lines."""
    level = logger.log_level
    logger.setLevel("WARNING")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    try:
        yield
    finally:
        logger.setLevel(level)
        del os.environ["POWERTOOLS_METRICS_DISABLED"]


@dataclass(frozen=True)
class Result:
    members: int
    online: int
    timeline: _Timeline
    seconds_on_moto: float
    protocol: int = DEFAULT_PROTOCOL

    @property
    def floor_posts(self) -> int:
        return self.online  # one connection each: one API Gateway message per recipient

    def dollars_per_million(self) -> float:
        t = self.timeline.totals()
        return (
            t.read_units * DYNAMODB_RRU_PER_MILLION
            + t.write_units * DYNAMODB_WRU_PER_MILLION
            + t.sqs_requests * SQS_REQUESTS_PER_MILLION
            + sum(t.posts.values()) * API_GATEWAY_WS_MESSAGES_PER_MILLION
        )

    def floor_dollars_per_million(self) -> float:
        return self.floor_posts * API_GATEWAY_WS_MESSAGES_PER_MILLION

    def posts_per_connection(self) -> float:
        """API Gateway messages per online connection (the floor is 1)."""
        return sum(self.timeline.totals().posts.values()) / self.online if self.online else 0.0


def measure(
    members: int,
    online_fraction: float = 1.0,
    progress: Callable[[str], None] = print,
    protocol: int = DEFAULT_PROTOCOL,
) -> Result:
    """One message to a channel of `members`, through the Delivery consumer, counted; every
    connection speaks `protocol` (1: never said hello)."""
    user_ids = [f"user-{n:05d}" for n in range(members)]
    saved = dict(os.environ)
    aws = LocalAws(APPLICATION)
    try:
        os.environ.update(aws.start().environment)
        os.environ[CALLBACK_URL_ENV] = "https://bench.execute-api.us-east-1.amazonaws.com/prod"
        ColdStart.forget_all()
        progress(f"  {members:>6} members: seeding (protocol v{protocol})")
        _seed_channel("big", user_ids)
        online = user_ids[: round(members * online_fraction)]
        store = DynamoConnectionStore()
        for n, user_id in enumerate(online):
            store.add(f"conn-{n:05d}", user_id, connected_at_ms=n, token_expires_at=2_000_000_000)
            if protocol != 1:  # as `hello` leaves the record (SessionService.hello)
                store.set_protocol(f"conn-{n:05d}", protocol, BENCH_CLIENT)
        environment = environment_of(MESSAGE_SEND)
        sender = messaging.message_sending(
            environment, users=chats.user_directory(environment), limiter=ratelimits.rate_limiter(environment)
        )
        sender.send(user_ids[0], SendMessage(request_id=str(uuid.uuid4()), chat_id="big", content="hello, all"))
        records = _stream_records(MessageModel.Meta.table_name)
        delivery = load_handler_module(default_functions_dir() / "messaging/delivery_consumer.py", "bench_fn_delivery")
        real_poster = connections_api.poster
        connections_api.poster = lambda environment: _CountingPoster()  # type: ignore[assignment,return-value]
        timeline = _Timeline()
        recording: list[_Timeline] = [timeline]
        progress(f"  {members:>6} members: delivering")
        started = time.perf_counter()
        try:
            with _recording(lambda: recording[-1]), _quiet():
                answer = delivery.handler({"Records": records}, LambdaContext("bench-delivery", remaining_ms=900_000))
            if answer.get("batchItemFailures"):
                raise RuntimeError(f"the Delivery consumer failed the record: {answer}")
            shards = _shard_jobs(aws)  # the event source mapping's receives: not our code's calls
            if shards:
                progress(f"  {members:>6} members: {len(shards)} shards to the fan-out worker")
                worker = load_handler_module(default_functions_dir() / "messaging/fanout_worker.py", "bench_fn_fan")
            with _recording(lambda: recording[-1]), _quiet():
                for shard in shards:
                    recording.append(_Timeline())
                    context = LambdaContext("bench-fanout-worker", remaining_ms=900_000)
                    answer = worker.handler({"Records": [shard]}, context)
                    if answer.get("batchItemFailures"):
                        raise RuntimeError(f"the fan-out worker failed a shard: {answer}")
                    timeline.shards.append(recording.pop())
        finally:
            connections_api.poster = real_poster
        took = time.perf_counter() - started
        return Result(members, len(online), timeline, took, protocol)
    finally:
        aws.stop()
        ColdStart.forget_all()
        os.environ.clear()
        os.environ.update(saved)


def _shard_jobs(aws: LocalAws) -> list[dict[str, Any]]:
    """The shard jobs the Delivery consumer put on the FanoutShards queue, as Lambda records."""
    sqs = boto3.client("sqs")
    url, arn = aws.provisioned.queue_urls[FANOUT_SHARDS.id], aws.provisioned.queue_arns[FANOUT_SHARDS.id]
    jobs: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        jobs += [queue_record(message, arn) for message in batch]
    return jobs


def _seed_channel(chat_id: str, user_ids: Sequence[str]) -> None:
    """The channel and its members as `tidings dev --seed` writes them, in batch writes (the
    seed's one-by-one checks are quadratic on moto at 10,000 members)."""
    joined = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    ChatModel(
        chat_id=chat_id, name=chat_id, chat_type="channel", visibility="public", head_seq=0, created_at=joined
    ).save()
    with UserModel.batch_write() as users, MemberModel.batch_write() as members:
        for user_id in user_ids:
            users.save(UserModel(user_id=user_id, display_name=f"User {user_id[5:]}"))
            members.save(MemberModel(chat_id=chat_id, user_id=user_id, role="member", joined_at=joined))


def _stream_records(table_name: str) -> list[dict[str, Any]]:
    """The table's stream so far, as the event source mapping puts it into the Lambda event."""
    # Account-id endpoints off, as the local stream poller has them: moto serves the plain endpoint.
    streams = boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))
    arn = boto3.client("dynamodb").describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]
    return [lambda_record(record, arn) for record in records]


PROTOCOLS = {
    1: "no `hello`: `message.new`, then `notification.badge` and `notification.toast` in separate frames",
    2: "`hello` with `protocolVersion` 2, as the SDKs say it: a recipient's `message.new` carries its badge and toast",
}


def report(results: Sequence[Result], revision: str, compared: Sequence[Result] = ()) -> str:
    protocol = results[0].protocol if results else DEFAULT_PROTOCOL
    others = ", ".join(str(v) for v in SUPPORTED_VERSIONS if v != protocol)
    lines = [
        "# Fan-out: one message to a chat of N members",
        "",
        "Written by `make bench-fanout` (`python -m tidings_local.bench_fanout`); the method is in",
        "that module's docstring: the Delivery consumer invoked once with one message's stream record,",
        "on moto, every AWS call and post counted, AWS time modelled from that sequence. A chat of more",
        f"than {SHARD_ABOVE_MEMBERS:,} members or {SHARD_ABOVE_CONNECTIONS:,} connections is decided and posted by the",
        f"fan-out workers in shards of {SHARD_MEMBERS:,} members (at most {SHARD_CONNECTIONS:,} connections; in",
        "parallel, one worker each): its counts include the workers', and its modelled time is the",
        "consumer's until it sent the shards, the hand-off, then the slowest shard.",
        "The event source mapping's own receives and deletes of shard jobs are not counted.",
        "",
        f"- run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, revision {revision}",
        "- latencies assumed (ms): "
        + ", ".join(f"{kind} {ms:g}" for kind, ms in LATENCY_MS.items())
        + f"; posts {connections_api.POST_CONCURRENCY} at a time; shard hand-off {HANDOFF_MS:g}",
        f"- before: {BEFORE}",
        f"- protocol: every connection speaks version {protocol} ({PROTOCOLS.get(protocol, 'see docs/protocol.md')}); "
        f"`--protocol {others}` measures the other",
        f"- $ per million messages: DynamoDB read units x ${DYNAMODB_RRU_PER_MILLION:g} + write units x "
        f"${DYNAMODB_WRU_PER_MILLION:g} + SQS requests x ${SQS_REQUESTS_PER_MILLION:g} + API Gateway messages x "
        f"${API_GATEWAY_WS_MESSAGES_PER_MILLION:g}, each per million ({PRICES_REGION} list prices of {PRICES_AS_OF}, "
        "`bench_cost`); the floor is API Gateway's part alone at one message per online connection",
        "",
        "| members | online | shards | AWS calls | DynamoDB read units | write units | API Gateway messages (floor) "
        "| modelled: last `message.new` (ms) | whole record (ms) | consumer holds its batch (ms) "
        "| $ per million messages (floor) | on moto (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        t, timeline = r.timeline.totals(), r.timeline
        lines.append(
            f"| {r.members:,} | {r.online:,} | {len(timeline.shards) or '—'} | {sum(t.calls.values()):,} "
            f"| {t.read_units:,} | {t.write_units:,} "
            f"| {sum(t.posts.values()):,} ({r.floor_posts:,}) | {timeline.modelled_ms(until_message=True):,.0f} "
            f"| {timeline.modelled_ms(until_message=False):,.0f} | {timeline.consumer_ms():,.0f} "
            f"| {r.dollars_per_million():,.2f} "
            f"({r.floor_dollars_per_million():,.2f}) | {r.seconds_on_moto:.1f} |"
        )
    lines += [
        "",
        "*Consumer holds its batch*: the Delivery consumer's own part of the record (a big chat's until it",
        "handed the shards off), which is what the next record of another chat waits when it is in the same",
        "batch sequence. The Delivery mapping reads four sequences per stream shard at once",
        "(`ParallelizationFactor` 4, a chat's records always in one of them), so a small chat waits",
        "behind a big one only when they share a sequence, and then for this long, not for the big",
        "chat's whole fan-out.",
    ]
    lines += ["", "## Calls and posts per message, by operation", ""]
    for r in results:
        t = r.timeline.totals()
        calls = ", ".join(f"{name} {count:,}" for name, count in t.calls.most_common())
        posts = ", ".join(f"{name} {count:,}" for name, count in t.posts.most_common())
        lines.append(
            f"- **{r.members:,} members**: {calls}; posts: {posts} ({r.posts_per_connection():.2f} per online "
            f"connection, largest {t.largest_post:,} bytes)"
        )
    lines += _side_by_side([*results, *compared])
    return "\n".join(lines) + "\n"


def _side_by_side(results: Sequence[Result]) -> list[str]:
    """Posts, dollars and time per message on each protocol version, for the sizes measured on more than one."""
    by_size: dict[int, dict[int, Result]] = {}
    for r in results:
        by_size.setdefault(r.members, {})[r.protocol] = r
    sizes = sorted(members for members, measured in by_size.items() if len(measured) > 1)
    if not sizes:
        return []
    versions = sorted({protocol for members in sizes for protocol in by_size[members]})
    lines = [
        "",
        "## Protocol versions side by side",
        "",
        "API Gateway messages for the one message (per online connection), its $ per million messages and its",
        'modelled whole record, by the version every connection speaks (docs/protocol.md "Protocol versions").',
        "Version 2 carries a recipient's badge and toast inside its `message.new` (sharded chats too) except",
        "where the server tells them on their own (a retried notification), so a version 2 row above one",
        "message per connection sent them as separate frames.",
        "",
        "| members | shards | "
        + " | ".join(f"v{v} messages (per connection)" for v in versions)
        + " | "
        + " | ".join(f"v{v} $ per million" for v in versions)
        + " | floor $ per million | "
        + " | ".join(f"v{v} whole record (ms)" for v in versions)
        + " |",
        "|---:|---:|" + "---:|" * (3 * len(versions) + 1),
    ]
    for members in sizes:
        measured = [by_size[members].get(v) for v in versions]
        first = next(r for r in measured if r is not None)

        def each(cell: Callable[[Result], str], measured: list[Result | None] = measured) -> list[str]:
            return [cell(r) if r is not None else "—" for r in measured]

        cells = [
            *each(lambda r: f"{sum(r.timeline.totals().posts.values()):,} ({r.posts_per_connection():.2f})"),
            *each(lambda r: f"{r.dollars_per_million():,.2f}"),
            f"{first.floor_dollars_per_million():,.2f}",
            *each(lambda r: f"{r.timeline.modelled_ms(until_message=False):,.0f}"),
        ]
        lines.append(f"| {members:,} | {len(first.timeline.shards) or '—'} | " + " | ".join(cells) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tidings_local.bench_fanout", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, DEFAULT_SIZES)),
        help="member counts, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--online", type=float, default=1.0, help="fraction of members connected (default: %(default)s)"
    )
    parser.add_argument(
        "--protocol",
        type=int,
        choices=SUPPORTED_VERSIONS,
        default=DEFAULT_PROTOCOL,
        help="the protocol version every connection speaks (1: no hello; default: %(default)s)",
    )
    parser.add_argument(
        "--compare",
        help="member counts also measured on the other protocol version(s), for the side-by-side; '' for none "
        f"(default: those of --sizes up to {COMPARE_UP_TO:,})",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the report goes (default: %(default)s)")
    options = parser.parse_args(argv)
    sizes = _sizes(parser, "--sizes", options.sizes)
    compare = (
        [size for size in sizes if size <= COMPARE_UP_TO]
        if options.compare is None
        else _sizes(parser, "--compare", options.compare)
    )
    if not sizes or any(size < 2 for size in sizes + compare) or not 0.0 <= options.online <= 1.0:
        parser.error("--sizes and --compare must be at least 2 members each, --online between 0 and 1")
    print(f"fan-out benchmark: {', '.join(f'{s:,}' for s in sizes)} members, protocol v{options.protocol}", flush=True)

    def run(size: int, protocol: int) -> Result:
        return measure(size, options.online, progress=lambda line: print(line, flush=True), protocol=protocol)

    results = [run(size, options.protocol) for size in sizes]
    compared = [run(size, options.protocol) for size in compare if size not in sizes]
    compared += [run(size, v) for v in SUPPORTED_VERSIONS if v != options.protocol for size in compare]
    text = report(results, _revision(), compared)
    print(text)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(text)
    print(f"written to {options.output}", file=sys.stderr)
    return 0


def _sizes(parser: argparse.ArgumentParser, option: str, value: str) -> list[int]:
    try:
        return [int(size) for size in value.split(",") if size.strip()]
    except ValueError:
        parser.error(f"{option}: {value!r} is not a comma-separated list of member counts")


def _revision() -> str:
    import subprocess

    try:
        command = ["git", "rev-parse", "--short", "HEAD"]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()  # noqa: S603
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
