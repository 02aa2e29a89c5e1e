"""Presence timers on SQS: one message per timer, delayed by DelaySeconds (at most 15 minutes;
a timer that arrives before it is due re-arms itself for the rest)."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tidings.presence.machine import ApplyTimer, IdleTimer, PresenceTimer

SQS_MAX_DELAY_SECONDS = 900


class SqsPresenceTimers:
    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self._queue_url = queue_url
        self._client = client or boto3.client("sqs")

    def schedule(self, timer: PresenceTimer, delay_seconds: int) -> None:
        self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=presence_timer_body(timer),
            DelaySeconds=max(0, min(SQS_MAX_DELAY_SECONDS, delay_seconds)),
        )


def presence_timer_body(timer: PresenceTimer) -> str:
    if isinstance(timer, IdleTimer):
        return json.dumps({"kind": "idle", "userId": timer.user_id, "chain": timer.chain})
    return json.dumps({"kind": "apply", "userId": timer.user_id})


def presence_timer_from_body(body: str) -> PresenceTimer:
    """Raises ValueError (or KeyError) for a body that is not a presence timer."""
    data = json.loads(body)
    if data["kind"] == "idle":
        return IdleTimer(user_id=str(data["userId"]), chain=str(data["chain"]))
    if data["kind"] == "apply":
        return ApplyTimer(user_id=str(data["userId"]))
    raise ValueError(f"unknown presence timer kind {data['kind']!r}")
