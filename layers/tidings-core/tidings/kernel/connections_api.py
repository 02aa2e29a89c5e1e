"""The @connections API and the one delivery loop that posts through it.

`ApiGatewayPoster` is the one way to write to a WebSocket client. `Deliveries` is the one
delivery loop (docs/architecture.md "Fan-out"):

- every read happens before the first post, so a failed read retries a record nobody got yet;
- the connections are posted to in parallel (`POST_CONCURRENCY`), each one's frames in order;
- a post that fails for a reason worth retrying (5xx, 429, a timeout; the @connections client
  has already retried it twice with backoff) hands *that connection's* remaining frames to the
  delivery retry queue (`DeliveryRetries`), and the caller succeeds: nobody already reached is
  posted to again;
- a throttled connection (429, `LimitExceededException`: the account's @connections rate) is
  retried in small jobs, each with its own jittered delay, so a throttled burst comes back
  spread out instead of all at once into the same limit;
- the retry queue's consumer delivers the same way, with a longer delay per attempt, and gives
  a connection up after the last one (its client finds the gap by `seq` and fills it with
  `sync.request`: the message is stored, nothing acked is lost);
- without a retry queue (typing: a late indicator is worse than none) a failed connection is
  given up at once;
- under pressure (a post that failed: throttled, 5xx, a timeout) the ephemeral frames are shed
  first (`RETRIES_BEFORE_SHEDDING`): a `typing.*` frame is never retried, a `presence.*` frame
  once, and `message.*` and every other frame keep all their retries. A presence delivery that
  fails its record (`fail_record`) gives a throttled connection its one retry on the spot, then
  sheds it: failing the record would post the status again to every subscriber, into the same
  limit. Shed frames are counted (`TypingFramesShed`, `PresenceFramesShed`).

A `Redelivery` is "these frames to these connections": also the unit a big chat's fan-out puts
on its shard queue (messaging's `FanoutShards`, as attempt 1). The retry queue itself
(`DELIVERY_RETRIES`) is declared here, with its job, because every feature that posts frames
sends to it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Collection, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tidings.kernel.declaration import Queue
from tidings.kernel.delay_queue import SQS_MAX_BODY_BYTES, DelayQueue, json_codec
from tidings.kernel.environment import Environment
from tidings.kernel.observability import logger, metrics
from tidings.kernel.parallel import bounded_map

# Before delivery attempts 2, 3 and 4 (attempt 1 is the consumer's own post); after the 4th
# the connection is given up, about half a minute after the first try.
RETRY_DELAYS_SECONDS = (1, 5, 25)
# Connections posted to at once by one delivery: a PostToConnection is a network round trip
# (15-30 ms from Lambda), so a channel's fan-out waits on the network, not on the CPU.
POST_CONCURRENCY = 16
MAX_ATTEMPTS = 1 + len(RETRY_DELAYS_SECONDS)
# Throttled connections go back in jobs of at most this many, each delayed by its attempt's
# backoff plus a random part of as much again, so they do not all return in the same second.
THROTTLED_PER_JOB = 25
# Retries an ephemeral frame gets before it is shed, by the first part of its type; any other
# frame (message.*, badges, chat frames) gets every retry.
RETRIES_BEFORE_SHEDDING = {"typing": 0, "presence": 1}
_SHED_METRICS = {"typing": "TypingFramesShed", "presence": "PresenceFramesShed"}

# Delivery retries (docs/architecture.md "Fan-out"): frames that some connections could not take
# (a 5xx or a throttle from the @connections API), each job due after its attempt's backoff. A
# connection that fails again is re-enqueued, so only a job the function cannot process at all is
# redelivered by SQS, and after 3 receives parked in the DLQ. Visibility is 6x the timeout.
DELIVERY_RETRIES = Queue(
    "DeliveryRetries", delay_seconds=1, visibility_timeout_seconds=180, dead_letter_after=3, carries_frames=True
)


class PostFailed(Exception):
    """A post that failed while the connection is not known to be gone. `retryable`: a 5xx, a
    throttle or a timeout; False for a refusal that would repeat (403, 413). `throttled`: the
    @connections rate limit (429), retried with a spread-out backoff."""

    def __init__(self, message: str, *, retryable: bool, throttled: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.throttled = throttled


class ConnectionPoster(Protocol):
    """The @connections API: the one way to write to a WebSocket client (`ApiGatewayPoster`)."""

    def post(self, connection_id: str, data: str) -> bool:
        """Sends `data`; False when the connection is gone (410). Other failures raise:
        `PostFailed`, or any other exception, which counts as worth retrying."""

    def close(self, connection_id: str) -> bool:
        """DeleteConnection; False when it was gone already."""


class GoneConnections(Protocol):
    def forget_gone(self, connection_id: str) -> None:
        """After a 410: forgets the connection, unless it is young enough to be mid-handshake."""


class ConnectionDirectory(GoneConnections, Protocol):
    def for_user(self, user_id: str) -> list[str]: ...

    def for_users(self, user_ids: Collection[str]) -> dict[str, list[str]]:
        """Each of `user_ids` with its connections, in as few reads as the store allows."""


@dataclass(frozen=True)
class Redelivery:
    """Frames still owed to some connections: one job on the delivery retry queue. `attempt`
    is the delivery attempt this job makes (the consumer's own post was attempt 1); `trace_id`
    the trace of the message the frames are about, if any."""

    connection_ids: tuple[str, ...]
    frames: tuple[str, ...]
    attempt: int = 2
    trace_id: str | None = None

    def to_body(self) -> dict[str, Any]:
        return {
            "connectionIds": list(self.connection_ids),
            "frames": list(self.frames),
            "attempt": self.attempt,
            "traceId": self.trace_id,
        }

    @classmethod
    def from_body(cls, body: Any, first_attempt: int = 2) -> Redelivery:
        """Raises ValueError for a body that is not a redelivery (a fan-out shard is attempt 1)."""
        if not isinstance(body, dict):
            raise ValueError("a redelivery is a JSON object")
        ids, frames, attempt = body.get("connectionIds"), body.get("frames"), body.get("attempt")
        if not (isinstance(ids, list) and ids and all(isinstance(i, str) for i in ids)):
            raise ValueError("connectionIds must be a non-empty list of strings")
        if not (isinstance(frames, list) and frames and all(isinstance(f, str) for f in frames)):
            raise ValueError("frames must be a non-empty list of strings")
        if not isinstance(attempt, int) or isinstance(attempt, bool) or not first_attempt <= attempt <= MAX_ATTEMPTS:
            raise ValueError(f"attempt must be a whole number from {first_attempt} to {MAX_ATTEMPTS}")
        trace_id = body.get("traceId")
        return cls(tuple(ids), tuple(frames), attempt, trace_id if isinstance(trace_id, str) else None)


REDELIVERIES = json_codec(Redelivery.to_body, Redelivery.from_body)


def split_to_fit(job: Redelivery) -> list[Redelivery]:
    """`job` split by connections into messages of at most SQS_MAX_BODY_BYTES (a frame is at
    most 128 KiB, so a job for one connection always fits)."""
    empty = len(REDELIVERIES.encode(replace(job, connection_ids=("",))))
    parts: list[Redelivery] = []
    ids: list[str] = []
    size = empty
    for connection_id in job.connection_ids:
        extra = len(json.dumps(connection_id)) + 1
        if ids and size + extra > SQS_MAX_BODY_BYTES:
            parts.append(replace(job, connection_ids=tuple(ids)))
            ids, size = [], empty
        ids.append(connection_id)
        size += extra
    parts.append(replace(job, connection_ids=tuple(ids)))
    return parts


def delivery_retries(environment: Environment) -> DelayQueue[Redelivery]:
    """The delivery retry queue of a function that sends to it, jobs cut to fit SQS."""
    return DelayQueue(environment.queue_url(DELIVERY_RETRIES), REDELIVERIES, split=split_to_fit)


class DeliveryRetries(Protocol):
    def schedule(self, job: Redelivery, delay_seconds: int) -> None:
        """Puts `job` on the retry queue, due in `delay_seconds`. Raises if the queue cannot
        take it (the caller's record is then retried whole)."""


class DeliveryFailed(Exception):
    """Some connections could not be reached for a reason other than being gone."""


@dataclass
class DeliveryReport:
    delivered: int = 0  # frames posted
    gone: int = 0  # connections found gone (410) and forgotten
    retrying: int = 0  # connections handed to the retry queue
    given_up: int = 0  # connections that will not get these frames (their clients sync)
    throttled: int = 0  # of `retrying`, those the @connections rate limit refused
    sharded: int = 0  # shard jobs a big chat's fan-out handed to its workers (their posts come later)
    shed: dict[str, int] = field(default_factory=dict)  # ephemeral frames dropped, by kind (typing, presence)

    def count_shed(self, kind: str, frames: int = 1) -> None:
        self.shed[kind] = self.shed.get(kind, 0) + frames


@dataclass(frozen=True)
class _Posted:
    """How far one connection's frames went: `posted` of them, then gone (410), refused for
    good (a 403 or 413, say), or else failed in a way worth retrying."""

    posted: int
    gone: bool = False
    refused: str | None = None
    throttled: bool = False


@dataclass(frozen=True)
class Deliveries:
    """Posts frames to connections, each on its own (see the module docstring). Without
    `retries`, a connection that could not be reached is given up, unless `fail_record`: then
    the delivery raises `DeliveryFailed` once every connection was tried, so the caller's record
    is retried in order (presence: a status is the latest word on a user, and a delayed retry
    could land after a newer one)."""

    poster: ConnectionPoster
    connections: GoneConnections
    retries: DeliveryRetries | None
    _: KW_ONLY
    fail_record: bool = False

    def deliver(
        self, targets: Sequence[tuple[str, Sequence[str]]], attempt: int = 1, trace_id: str | None = None
    ) -> DeliveryReport:
        """Posts each target's frames, in order, to its connection, the connections in parallel
        (at most `POST_CONCURRENCY` at once); a retry of them carries `trace_id`."""
        report = DeliveryReport()
        owed: dict[tuple[str, ...], list[str]] = {}  # frames not yet posted -> connections owed them
        throttled: dict[tuple[str, ...], list[str]] = {}  # the same, for connections that were throttled
        for (connection_id, frames), outcome in self._post_all(targets, report):
            if outcome.gone:
                continue
            if outcome.refused is not None:
                report.given_up += 1
                logger.warning("delivery refused", extra={"connectionId": connection_id, "error": outcome.refused})
            elif outcome.posted < len(frames):
                rest = _worth_retrying(frames[outcome.posted :], attempt, report)
                if rest:
                    kept = throttled if outcome.throttled else owed
                    kept.setdefault(rest, []).append(connection_id)
        if throttled and self.fail_record:
            throttled = self._once_more_or_shed(throttled, report)
        _count_shed(report)
        if (owed or throttled) and self.fail_record:
            count = sum(len(connection_ids) for connection_ids in (*owed.values(), *throttled.values()))
            raise DeliveryFailed(f"{count} connection(s) failed")
        if owed:
            self._retry_later(owed, attempt, report, trace_id)
        if throttled:
            before = report.retrying
            for frames, ids in throttled.items():
                for start in range(0, len(ids), THROTTLED_PER_JOB):
                    part = {frames: ids[start : start + THROTTLED_PER_JOB]}
                    self._retry_later(part, attempt, report, trace_id, jittered=True)
            report.throttled = report.retrying - before
        return report

    def _post_in_order(self, connection_id: str, frames: Sequence[str]) -> _Posted:
        """One connection's frames, in order, until one does not go through."""
        for index, data in enumerate(frames):
            try:
                if not self.poster.post(connection_id, data):
                    return _Posted(index, gone=True)
            except Exception as exc:  # one bad connection must not starve the others
                failed = exc if isinstance(exc, PostFailed) else None
                refused = str(exc) if failed is not None and not failed.retryable else None
                return _Posted(index, refused=refused, throttled=failed is not None and failed.throttled)
        return _Posted(len(frames))

    def _post_all(
        self, targets: Sequence[tuple[str, Sequence[str]]], report: DeliveryReport
    ) -> list[tuple[tuple[str, Sequence[str]], _Posted]]:
        """Posts every target, in parallel; counts what was posted and forgets gone connections."""
        outcomes = bounded_map(lambda target: self._post_in_order(*target), targets, POST_CONCURRENCY, "post")
        for (connection_id, _), outcome in zip(targets, outcomes, strict=True):
            report.delivered += outcome.posted
            if outcome.gone:
                report.gone += 1
                self._forget(connection_id)
        return list(zip(targets, outcomes, strict=True))

    def _once_more_or_shed(
        self, throttled: dict[tuple[str, ...], list[str]], report: DeliveryReport
    ) -> dict[tuple[str, ...], list[str]]:
        """`fail_record`'s throttled connections: one more post each now (the client's own
        backoff spaces it). An ephemeral frame that still does not go through is shed; any
        other is returned, still owed, so the record fails for it as before."""
        targets = [(connection_id, frames) for frames, ids in throttled.items() for connection_id in ids]
        still_owed: dict[tuple[str, ...], list[str]] = {}
        for (connection_id, frames), outcome in self._post_all(targets, report):
            kept = []
            for data in [] if outcome.gone else frames[outcome.posted :]:
                kind = _kind(data)
                if kind in RETRIES_BEFORE_SHEDDING:
                    report.count_shed(kind)
                else:
                    kept.append(data)
            if kept:
                still_owed.setdefault(tuple(kept), []).append(connection_id)
        return still_owed

    def redeliver(self, job: Redelivery) -> DeliveryReport:
        targets = [(connection_id, job.frames) for connection_id in job.connection_ids]
        return self.deliver(targets, job.attempt, job.trace_id)

    def _retry_later(
        self,
        owed: dict[tuple[str, ...], list[str]],
        attempt: int,
        report: DeliveryReport,
        trace_id: str | None,
        jittered: bool = False,
    ) -> None:
        count = sum(len(connection_ids) for connection_ids in owed.values())
        if self.retries is None or attempt >= MAX_ATTEMPTS:
            report.given_up += count
            logger.warning("delivery given up", extra={"connections": count, "attempt": attempt})
            return
        backoff = RETRY_DELAYS_SECONDS[attempt - 1]
        for frames, connection_ids in owed.items():
            delay = backoff + random.randint(0, backoff) if jittered else backoff  # noqa: S311 (not secret)
            self.retries.schedule(Redelivery(tuple(connection_ids), frames, attempt + 1, trace_id), delay)
        report.retrying += count
        logger.info("delivery retry scheduled", extra={"connections": count, "attempt": attempt + 1})

    def _forget(self, connection_id: str) -> None:
        """Best effort: a connection left behind goes at its next 410, or by TTL. A failure here
        must not fail a delivery that has reached others."""
        try:
            self.connections.forget_gone(connection_id)
        except Exception:
            logger.exception("could not forget a gone connection", extra={"connectionId": connection_id})


def _kind(data: str) -> str:
    """The first part of a frame's type (`typing` for `typing.indicator`); "" for anything else."""
    try:
        frame = json.loads(data)
    except ValueError:
        return ""
    frame_type = frame.get("type") if isinstance(frame, dict) else None
    return frame_type.split(".", 1)[0] if isinstance(frame_type, str) else ""


def _worth_retrying(frames: Sequence[str], attempt: int, report: DeliveryReport) -> tuple[str, ...]:
    """The frames still worth another try after delivery `attempt` failed; the ephemeral ones
    past their retries are counted in `report` as shed."""
    kept: list[str] = []
    for data in frames:
        kind = _kind(data)
        if attempt > RETRIES_BEFORE_SHEDDING.get(kind, MAX_ATTEMPTS):
            report.count_shed(kind)
        else:
            kept.append(data)
    return tuple(kept)


def _count_shed(report: DeliveryReport) -> None:
    for kind, frames in report.shed.items():
        metrics.add_metric(name=_SHED_METRICS[kind], unit="Count", value=frames)
    if report.shed:
        logger.warning("frames shed under pressure", extra={"shed": report.shed})


def count_delivery(report: DeliveryReport) -> None:
    """A queue worker's delivery as metrics (a retry job's, a fan-out shard's)."""
    metrics.add_metric(name="FramesDelivered", unit="Count", value=report.delivered)
    if report.gone:
        metrics.add_metric(name="StaleConnectionsRemoved", unit="Count", value=report.gone)
    metrics.add_metric(name="DeliveriesRetried", unit="Count", value=report.retrying)
    metrics.add_metric(name="DeliveriesGivenUp", unit="Count", value=report.given_up)
    if report.throttled:
        metrics.add_metric(name="DeliveriesThrottled", unit="Count", value=report.throttled)


def post_to_user(
    poster: ConnectionPoster,
    connections: GoneConnections,
    connection_ids: list[str],
    frames: list[str],
    retries: DeliveryRetries | None = None,
    trace_id: str | None = None,
) -> DeliveryReport:
    """Posts `frames`, in order, to each of one user's connections (see `Deliveries`)."""
    return Deliveries(poster, connections, retries).deliver(
        [(connection_id, frames) for connection_id in connection_ids], trace_id=trace_id
    )


# Fan-out posts to one connection after another, so a slow or failing one must cost little:
# botocore's standard retry mode retries 5xx, throttles and timeouts twice with jittered
# exponential backoff (and stops retrying when its retry quota runs out, as in an outage);
# what still fails goes to the delivery retry queue (`Deliveries`).
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
    max_pool_connections=POST_CONCURRENCY,  # one pooled connection per concurrent post
)


class ApiGatewayPoster:
    def __init__(self, endpoint_url: str, client: Any | None = None) -> None:
        self._client = client or boto3.client(
            "apigatewaymanagementapi", endpoint_url=endpoint_url, config=CLIENT_CONFIG
        )

    def post(self, connection_id: str, data: str) -> bool:
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data.encode("utf-8"))
        except self._client.exceptions.GoneException:
            return False
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            code = exc.response.get("Error", {}).get("Code", "")
            throttled = status == 429 or code == "LimitExceededException"
            retryable = status >= 500 or throttled
            raise PostFailed(
                f"PostToConnection failed: {status} {code}", retryable=retryable, throttled=throttled
            ) from exc
        except BotoCoreError as exc:  # connection refused, timeouts
            raise PostFailed(f"PostToConnection failed: {type(exc).__name__}", retryable=True) from exc
        return True

    def close(self, connection_id: str) -> bool:
        try:
            self._client.delete_connection(ConnectionId=connection_id)
        except self._client.exceptions.GoneException:
            return False
        return True


def poster(environment: Environment) -> ApiGatewayPoster:
    """The @connections poster of a function declared `manages_connections`."""
    return ApiGatewayPoster(environment.callback_url)
