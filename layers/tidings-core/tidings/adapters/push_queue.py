"""The push queue on SQS: one message per `PushNotification`, consumed by the push worker."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tidings.domain.push import PushNotification


class SqsPushQueue:
    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self._queue_url = queue_url
        self._client = client or boto3.client("sqs")

    def enqueue(self, notification: PushNotification) -> None:
        self._client.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(notification.to_job()))
