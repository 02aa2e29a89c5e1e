"""Lambda's DynamoDB Streams event source mapping, emulated for each `StreamSubscription`.

One `StreamPoller` per subscription reads the table's stream (moto's stream shard itself, what
GetRecords would return: the mapping is AWS's reader, not an API client), and invokes the
function the way the mapping does:

- polling: from the declared `starting_position` (LATEST skips the records already on the
  stream when the runtime starts, such as the demo data; TRIM_HORIZON delivers them). Instead
  of polling hot, the poller is woken as soon as moto handles a DynamoDB write, and polls at
  least every `poll_interval` seconds anyway, so delivery is immediate and idle CPU is low; only
  writes to the subscription's own table wake it;
- event filtering: records whose `eventName` is not in `event_names` are dropped before
  batching, as filter criteria drop them on AWS (they are never delivered nor retried);
- batching: up to `batch_size` records, waiting up to `max_batching_window_seconds` for a batch
  to fill;
- `ReportBatchItemFailures`: the function's `batchItemFailures` (`itemIdentifier` = the
  record's SequenceNumber) checkpoint the batch up to the first failed record, and the rest is
  retried. An exception, or an identifier that is not in the batch, fails the whole batch;
- `bisect_batch_on_error`: a failed batch of more than one record is halved before the retry,
  and halving does not consume a retry attempt;
- `parallelization_factor`: that many concurrent batch sequences ("lanes"), each record in the
  lane of its partition key's hash, so one key's records stay in order and a slow batch holds up
  its lane only; each lane keeps its own batch, retries, bisecting and record age;
- `retry_attempts` and `max_record_age_seconds` (-1 is unlimited, as on AWS): once exhausted,
  the failed records are described in a Lambda-style on-failure record sent to the
  subscription's `on_failure` SQS queue, a warning is logged, and the poller moves past them.

A poison record therefore never blocks the shard, and is never dropped without a trace.

Differences from AWS: one shard per stream (moto's), records are buffered in memory between
polls instead of re-read from a checkpoint, and the retry backoff is short (`retry_backoff`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import boto3
from botocore.config import Config

from tidings.kernel.declaration import StreamSubscription
from tidings.kernel.wire import iso
from tidings_local.aws import ACCOUNT_ID, region
from tidings_local.lambdas import Lambdas
from tidings_local.log import logger
from tidings_local.moto_patches import DYNAMODB_WRITES, on_request, stream_records, wait_until_set, wake

T = TypeVar("T")


@dataclass(frozen=True)
class PollerSettings:
    """`poll_interval`: the longest wait between two polls while idle, only a safety net (DynamoDB
    writes and SQS sends wake the pollers at once, and a queue poller sleeps until its next
    delayed message is due; every poll is a moto call, so a short interval is idle CPU);
    `retry_backoff`: the wait before retrying a failed batch."""

    poll_interval: float = 5.0
    retry_backoff: float = 0.2


@dataclass(frozen=True)
class Outcome:
    """One invocation's result: the index of the first failed record, None when all passed."""

    failed_at: int | None
    function_error: str | None = None


def lane_of(partition_key: Any, lanes: int) -> int:
    """The lane of a record whose partition key attribute is `partition_key` (its DynamoDB JSON),
    among `lanes`: the same key always in the same lane."""
    if lanes == 1:
        return 0
    return zlib.crc32(json.dumps(partition_key, sort_keys=True).encode()) % lanes


class _Lane:
    """One of a shard's concurrent batches (`parallelization_factor` of them): its records in
    order, and its own retry state, so a failing batch holds up its lane only."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.buffer: deque[dict[str, Any]] = deque()
        self.first_buffered = 0.0
        self.limit = batch_size
        self.attempts = 0
        self.head_invocations = 0
        self.arrived = asyncio.Event()

    def checkpoint(self, count: int) -> None:
        """Moves past the first `count` buffered records and starts a fresh batch."""
        for _ in range(count):
            self.buffer.popleft()
        if self.buffer:
            self.first_buffered = time.monotonic()
        self.limit = self.batch_size
        self.attempts = 0
        self.head_invocations = 0


def _json_safe(value: Any) -> Any:
    """boto3 returns `B`/`BS` attributes as bytes; the Lambda event carries them as base64."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record, as the event source mapping puts it into the Lambda event."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        # GetRecords parses it with its zone; moto's own record holds it naive, in UTC.
        aware = created if created.tzinfo is not None else created.replace(tzinfo=UTC)
        change["ApproximateCreationDateTime"] = int(aware.timestamp())
    result = _json_safe({**record, "dynamodb": change})
    result["eventVersion"] = "1.1"
    result["eventSourceARN"] = stream_arn
    return result


class StreamPoller:
    """The event source mapping of one stream subscription."""

    def __init__(
        self,
        subscription: StreamSubscription,
        stream_arn: str,
        on_failure_queue_url: str,
        lambdas: Lambdas,
        platform: Executor,
        settings: PollerSettings,
    ) -> None:
        self.subscription = subscription
        self.stream_arn = stream_arn
        self._queue_url = on_failure_queue_url
        self._lambdas = lambdas
        self._platform = platform
        self._settings = settings
        # botocore's account-based streams endpoint ({account}.streams-ddb...) is unknown to moto.
        self._streams = boto3.client(
            "dynamodbstreams", region_name=region(), config=Config(account_id_endpoint_mode="disabled")
        )
        self._sqs = boto3.client("sqs", region_name=region())
        self._shard_id = ""
        self._last_read: str | None = None
        self._lanes = [_Lane(subscription.batch_size) for _ in range(subscription.parallelization_factor)]
        self._partition_key = subscription.table.model._hash_key_attribute().attr_name
        self._written = asyncio.Event()
        self._reading = False

    @property
    def pending(self) -> int:
        """Records still to hand to the function: buffered, or written to the table and not read
        yet (counted as one until read). `/_local/stats` reports it so a benchmark can tell
        when the consumers are idle."""
        buffered = sum(len(lane.buffer) for lane in self._lanes)
        return buffered + (1 if self._written.is_set() or self._reading else 0)

    def buffered(self) -> list[dict[str, Any]]:
        """Every record read and not yet handed on, lane after lane."""
        return [record for lane in self._lanes for record in lane.buffer]

    async def open(self) -> None:
        """Takes the starting position. The runtime awaits this before it reports ready, so
        a write made once `/healthz` is 200 is never mistaken for an existing record."""
        await self._platform_call(self._open)

    async def run(self) -> None:
        """Reads and delivers until cancelled: one reader of the shard, and one delivery loop
        per lane (`parallelization_factor`, as Lambda's concurrent batches per shard: the
        records of one partition key always in one lane, in order). Unexpected errors are
        logged and retried."""
        loop = asyncio.get_running_loop()
        # Only writes to this poller's own table: a write elsewhere has nothing for its stream.
        own_table = frozenset({self.subscription.table.default_name})
        unsubscribe = on_request(DYNAMODB_WRITES, lambda: wake(loop, self._written), tables=own_table)
        lanes = [asyncio.create_task(self._run_lane(lane)) for lane in self._lanes]
        try:
            while True:
                try:
                    if not self._shard_id:
                        await self._platform_call(self._open)
                    await self._read_step()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("stream poller error", extra={"function": self.subscription.function.id})
                    await asyncio.sleep(self._settings.retry_backoff)
        finally:
            for task in lanes:
                task.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
            unsubscribe()

    async def _read_step(self) -> None:
        """Reads what follows (while the lanes hold less than a batch each), then waits for
        the next write or the poll interval."""
        if sum(len(lane.buffer) for lane in self._lanes) < self.subscription.batch_size * len(self._lanes):
            self._reading = True
            self._written.clear()
            try:
                self._route(await self._platform_call(self._read_wanted))
            finally:
                self._reading = False
        await wait_until_set(self._written, self._settings.poll_interval)

    async def _run_lane(self, lane: _Lane) -> None:
        while True:
            try:
                await self._lane_step(lane)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("stream poller error", extra={"function": self.subscription.function.id})
                await asyncio.sleep(self._settings.retry_backoff)

    async def _lane_step(self, lane: _Lane) -> None:
        if not lane.buffer:
            lane.arrived.clear()
            await wait_until_set(lane.arrived, self._settings.poll_interval)
            return
        window_left = self._window_left(lane)
        if window_left > 0:
            lane.arrived.clear()
            await wait_until_set(lane.arrived, min(window_left, self._settings.poll_interval))
            return
        if not await self._discard_expired(lane):
            await self._deliver(lane, list(lane.buffer)[: lane.limit])
        self._written.set()  # room in the lane: the reader reads on at once, not at the next write

    def _window_left(self, lane: _Lane) -> float:
        """Seconds the batching window still waits for a fuller batch (0: deliver now)."""
        window = self.subscription.max_batching_window_seconds
        if window <= 0 or len(lane.buffer) >= self.subscription.batch_size:
            return 0.0
        return max(0.0, window - (time.monotonic() - lane.first_buffered))

    # --- reading the stream (platform work: not counted as our code's AWS calls) -----------

    def _open(self) -> None:
        """Finds the shard, and with `starting_position` LATEST skips what is already there
        (such as the demo data, which is state, not events)."""
        description = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        self._shard_id = description["Shards"][0]["ShardId"]
        if self.subscription.starting_position == "LATEST":
            while records := self._read():
                self._last_read = records[-1]["dynamodb"]["SequenceNumber"]

    def _read_wanted(self) -> list[dict[str, Any]]:
        """The wanted records that follow the last record read, as Lambda records (on the
        platform's thread; the event loop routes them to their lanes)."""
        wanted = set(self.subscription.event_names)
        records = []
        for record in self._read():
            self._last_read = record["dynamodb"]["SequenceNumber"]
            if record["eventName"] in wanted:
                records.append(lambda_record(record, self.stream_arn))
        return records

    def _route(self, records: list[dict[str, Any]]) -> None:
        """Each record to the lane of its partition key (one lane without a parallelization
        factor), in order."""
        for record in records:
            lane = self._lanes[lane_of(record["dynamodb"]["Keys"].get(self._partition_key), len(self._lanes))]
            if not lane.buffer:
                lane.first_buffered = time.monotonic()
            lane.buffer.append(record)
            lane.arrived.set()

    def _read(self) -> list[dict[str, Any]]:
        """The records after the last record read (from the shard's start the first time), as
        GetRecords returns them, read from moto's stream shard itself: the event source mapping
        is AWS's own reader, not a client of the Streams API, and going through the API cost two
        requests per poll (an iterator, then GetRecords) with their serialization both ways,
        ~20% of the runtime's time under load. `tests/local/test_streams.py` holds the two
        readings to the same records."""
        return stream_records(self.stream_arn, self._last_read, ACCOUNT_ID, region())

    async def _platform_call(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._platform, call)

    # --- delivering ----------------------------------------------------------------------

    async def _deliver(self, lane: _Lane, batch: list[dict[str, Any]]) -> None:
        lane.head_invocations += 1
        outcome = await self._invoke(batch)
        if outcome.failed_at is None:
            lane.checkpoint(len(batch))
            return
        if outcome.failed_at > 0:
            lane.checkpoint(outcome.failed_at)
            lane.head_invocations = 1
        remaining = batch[outcome.failed_at :]
        if self.subscription.bisect_batch_on_error and len(remaining) > 1:
            lane.limit = math.ceil(len(remaining) / 2)
            return
        lane.attempts += 1
        retries = self.subscription.retry_attempts
        if 0 <= retries < lane.attempts:
            await self._send_to_on_failure(lane, remaining, "RetryAttemptsExhausted", outcome)
            lane.checkpoint(len(remaining))
            return
        lane.limit = len(remaining)
        await asyncio.sleep(self._settings.retry_backoff)

    async def _invoke(self, batch: list[dict[str, Any]]) -> Outcome:
        function = self.subscription.function
        try:
            response = await self._lambdas.invoke(function, {"Records": batch})
        except Exception as exc:
            logger.warning(
                "stream batch failed",
                extra={"function": function.id, "batchSize": len(batch), "error": type(exc).__name__},
                exc_info=True,
            )
            return Outcome(failed_at=0, function_error="Unhandled")
        failures = response.get("batchItemFailures") if isinstance(response, dict) else None
        if not failures:
            return Outcome(failed_at=None)
        logger.info(
            "stream batch reported item failures",
            extra={"function": function.id, "batchSize": len(batch), "failures": len(failures)},
        )
        positions = {record["dynamodb"]["SequenceNumber"]: index for index, record in enumerate(batch)}
        identifiers = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
        if not all(isinstance(i, str) and i in positions for i in identifiers):
            logger.warning("invalid batchItemFailures: failing the whole batch", extra={"function": function.id})
            return Outcome(failed_at=0)
        return Outcome(failed_at=min(positions[i] for i in identifiers))  # type: ignore[index]

    async def _discard_expired(self, lane: _Lane) -> bool:
        max_age = self.subscription.max_record_age_seconds
        if max_age < 0:
            return False
        cutoff = time.time() - max_age
        expired = []
        for record in lane.buffer:
            if record["dynamodb"].get("ApproximateCreationDateTime", cutoff) >= cutoff:
                break
            expired.append(record)
        if not expired:
            return False
        await self._send_to_on_failure(lane, expired, "RecordAgeExceeded", None)
        lane.checkpoint(len(expired))
        return True

    async def _send_to_on_failure(
        self, lane: _Lane, records: list[dict[str, Any]], condition: str, outcome: Outcome | None
    ) -> None:
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if outcome is not None and outcome.function_error:
            response_context["functionError"] = outcome.function_error
        body = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self._lambdas.function_arn(self.subscription.function),
                "condition": condition,
                "approximateInvokeCount": lane.head_invocations,
            },
            "responseContext": response_context,
            "version": "1.0",
            "timestamp": iso(time.time()),
            "DDBStreamBatchInfo": {
                "shardId": self._shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": iso(first.get("ApproximateCreationDateTime", 0)),
                "approximateArrivalOfLastRecord": iso(last.get("ApproximateCreationDateTime", 0)),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        await self._platform_call(
            lambda: self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(body))
        )
        logger.warning(
            "stream records sent to the on-failure destination",
            extra={
                "function": self.subscription.function.id,
                "condition": condition,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "batchSize": len(records),
            },
        )
