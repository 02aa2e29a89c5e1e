"""What arrives on notifications' queues: push jobs, and notification retries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tidings.kernel.delay_queue import Codec, json_codec
from tidings.notifications.push_delivery import PushJob


def push_job_body(job: PushJob) -> str:
    return json.dumps(job.to_body(), separators=(",", ":"))


def push_job_from_body(body: str) -> PushJob:
    """Raises (ValueError, KeyError, TypeError) for a body that is not a push job."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("a push job is a JSON object")
    return PushJob.from_body(data)


PUSH_JOB_BODIES = Codec(push_job_body, push_job_from_body)


@dataclass(frozen=True)
class NotificationRetry:
    """A chat event whose notification work failed in the Delivery consumer: its Messages stream
    record as Lambda delivered it (an INSERT with its new image, which is at most a message item:
    it fits an SQS message), so the retry reads the event exactly as the consumer did."""

    record: dict[str, Any]

    def to_body(self) -> dict[str, Any]:
        return {"record": self.record}

    @classmethod
    def from_body(cls, body: Any) -> NotificationRetry:
        """Raises ValueError for a body that is not a notification retry."""
        record = body.get("record") if isinstance(body, dict) else None
        image = record.get("dynamodb", {}).get("NewImage") if isinstance(record, dict) else None
        if not isinstance(image, dict):
            raise ValueError("a notification retry carries a stream record with its new image")
        return cls(record)  # type: ignore[arg-type]  # checked: a dict


NOTIFICATION_RETRY_BODIES = json_codec(NotificationRetry.to_body, NotificationRetry.from_body)
