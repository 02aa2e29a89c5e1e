"""The delivery retry queue on SQS (docs/architecture.md "Fan-out"): what a connection could not
take the first time, posted again by `functions/message/delivery_retry.py`."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tidings.kernel.connections_api import Redelivery

SQS_MAX_DELAY_SECONDS = 900
SQS_MAX_BODY_BYTES = 256 * 1024


def _body(job: Redelivery) -> str:
    # ASCII: SQS refuses some characters a frame may carry (U+FFFE, U+FFFF), escaped they pass.
    return json.dumps(job.to_body(), separators=(",", ":"))


class SqsDeliveryRetries:
    """`DeliveryRetries`: one message per job, its backoff as the message's DelaySeconds. A job
    for many connections is split so each message fits SQS's 256 KiB (a frame is at most
    128 KiB, so a job for one connection always fits)."""

    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self._queue_url = queue_url
        self._client = client or boto3.client("sqs")

    def schedule(self, job: Redelivery, delay_seconds: int) -> None:
        for part in _parts(job):
            self._client.send_message(
                QueueUrl=self._queue_url,
                MessageBody=_body(part),
                DelaySeconds=max(0, min(SQS_MAX_DELAY_SECONDS, delay_seconds)),
            )


def _parts(job: Redelivery) -> list[Redelivery]:
    """`job` split by connections into messages of at most SQS_MAX_BODY_BYTES."""
    empty = len(_body(Redelivery(("",), job.frames, job.attempt)))
    parts: list[Redelivery] = []
    ids: list[str] = []
    size = empty
    for connection_id in job.connection_ids:
        extra = len(json.dumps(connection_id)) + 1
        if ids and size + extra > SQS_MAX_BODY_BYTES:
            parts.append(Redelivery(tuple(ids), job.frames, job.attempt))
            ids, size = [], empty
        ids.append(connection_id)
        size += extra
    parts.append(Redelivery(tuple(ids), job.frames, job.attempt))
    return parts


def redelivery_from_body(body: str) -> Redelivery:
    """Raises ValueError for a body that is not a redelivery job."""
    return Redelivery.from_body(json.loads(body))
