"""Serverless timers: an SQS message with a delivery delay (at most 15 minutes)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import boto3

from tidings.messaging.typing_indicators import TypingTimer

SQS_MAX_DELAY_SECONDS = 900


class SqsTypingTimers:
    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self._queue_url = queue_url
        self._client = client or boto3.client("sqs")

    def schedule(self, timer: TypingTimer, delay_seconds: int) -> None:
        self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=json.dumps(asdict(timer)),
            DelaySeconds=max(0, min(SQS_MAX_DELAY_SECONDS, delay_seconds)),
        )


def typing_timer_from_body(body: str) -> TypingTimer:
    data = json.loads(body)
    return TypingTimer(chat_id=str(data["chat_id"]), user_id=str(data["user_id"]), started_at=float(data["started_at"]))
