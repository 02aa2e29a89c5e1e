"""The push queue on SQS: the Notify consumer enqueues, the push worker consumes and retries."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tidings.notifications.push_delivery import SQS_MAX_DELAY_SECONDS, PushJob, PushNotification


class SqsPushQueue:
    """`PushQueue` and `PushJobQueue`: a job is `PushJob.to_body()` as JSON; a retry carries its
    backoff as the message's DelaySeconds (SQS allows at most 15 minutes)."""

    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self._queue_url = queue_url
        self._client = client or boto3.client("sqs")

    def enqueue(self, notification: PushNotification) -> None:
        self.enqueue_job(PushJob(notification))

    def enqueue_job(self, job: PushJob, delay_seconds: int = 0) -> None:
        self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=json.dumps(job.to_body(), separators=(",", ":")),
            DelaySeconds=max(0, min(SQS_MAX_DELAY_SECONDS, delay_seconds)),
        )


def push_job_from_body(body: str) -> PushJob:
    """Raises (ValueError, KeyError, TypeError) for a body that is not a push job."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("a push job is a JSON object")
    return PushJob.from_body(data)
