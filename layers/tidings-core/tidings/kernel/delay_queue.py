"""The one SQS adapter: a queue as a timer, one message per job, due after its delay.

Every queue of the application goes through it: typing, token and presence timers, the push
jobs and the delivery retries. SQS delays a message by at most 15 minutes, so a job due later is
sent with the longest delay and its consumer re-arms it for the remainder when it arrives. Each
feature gives the queue a `Codec` for its job type (in its `records.py`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import boto3

T = TypeVar("T")

SQS_MAX_DELAY_SECONDS = 900
SQS_MAX_BODY_BYTES = 256 * 1024
SQS_BATCH_MAX = 10  # entries of one SendMessageBatch, which also holds at most SQS_MAX_BODY_BYTES in all


@dataclass(frozen=True)
class Codec(Generic[T]):
    """A job type as a message body, and back. `decode` raises ValueError (or KeyError,
    TypeError) for a body that is not such a job."""

    encode: Callable[[T], str]
    decode: Callable[[str], T]


def json_codec(to_json: Callable[[T], Any], from_json: Callable[[Any], T]) -> Codec[T]:
    """Compact JSON, ASCII: SQS refuses some characters a frame may carry (U+FFFE, U+FFFF),
    escaped they pass."""
    return Codec(lambda job: json.dumps(to_json(job), separators=(",", ":")), lambda body: from_json(json.loads(body)))


class DelayQueue(Generic[T]):
    """`schedule(job, delay_seconds)`: one SendMessage per job (or per part, when `split` cuts a
    job to fit SQS's 256 KiB), its delay as the message's DelaySeconds."""

    def __init__(
        self,
        queue_url: str,
        codec: Codec[T],
        client: Any | None = None,
        *,
        split: Callable[[T], Iterable[T]] | None = None,
    ) -> None:
        self._queue_url = queue_url
        self._codec = codec
        self._client = client or boto3.client("sqs")
        self._split = split

    def schedule(self, job: T, delay_seconds: int = 0) -> None:
        for part in self._split(job) if self._split else (job,):
            self._client.send_message(
                QueueUrl=self._queue_url,
                MessageBody=self._codec.encode(part),
                DelaySeconds=max(0, min(SQS_MAX_DELAY_SECONDS, delay_seconds)),
            )

    def schedule_all(self, jobs: Iterable[T], delay_seconds: int = 0) -> None:
        """Every job, due after `delay_seconds`, in as few SendMessageBatch calls as fit (ten
        entries and 256 KiB a call). Raises if SQS refuses any entry: the caller's record is then
        retried whole (a job sent twice is a frame posted twice, which clients drop)."""
        delay = max(0, min(SQS_MAX_DELAY_SECONDS, delay_seconds))
        batch: list[str] = []
        for job in jobs:
            for part in self._split(job) if self._split else (job,):
                body = self._codec.encode(part)
                size = sum(len(b.encode()) for b in batch) + len(body.encode())
                if batch and (len(batch) == SQS_BATCH_MAX or size > SQS_MAX_BODY_BYTES):
                    self._send_batch(batch, delay)
                    batch = []
                batch.append(body)
        if batch:
            self._send_batch(batch, delay)

    def _send_batch(self, bodies: list[str], delay: int) -> None:
        entries: list[Any] = [
            {"Id": str(n), "MessageBody": body, "DelaySeconds": delay} for n, body in enumerate(bodies)
        ]
        failed = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries).get("Failed") or []
        if failed:
            raise RuntimeError(f"SQS refused {len(failed)} of {len(entries)} messages: {failed[0].get('Code')}")
