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
    """A chat event whose notification work failed in the Delivery consumer or a fan-out worker:
    its Messages stream record as Lambda delivered it (an INSERT with its new image, which is at
    most a message item: it fits an SQS message), so the retry reads the event exactly as the
    consumer did; and, for a big chat's message shard, the members whose work it is
    (`user_ids`; None: every member of the chat)."""

    record: dict[str, Any]
    user_ids: tuple[str, ...] | None = None

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"record": self.record}
        if self.user_ids is not None:
            body["userIds"] = list(self.user_ids)
        return body

    @classmethod
    def from_body(cls, body: Any) -> NotificationRetry:
        """Raises ValueError for a body that is not a notification retry."""
        record = body.get("record") if isinstance(body, dict) else None
        image = record.get("dynamodb", {}).get("NewImage") if isinstance(record, dict) else None
        if not isinstance(image, dict):
            raise ValueError("a notification retry carries a stream record with its new image")
        user_ids = body.get("userIds")
        if user_ids is not None and not (
            isinstance(user_ids, list) and user_ids and all(isinstance(u, str) for u in user_ids)
        ):
            raise ValueError("userIds must be a non-empty list of strings")
        return cls(record, None if user_ids is None else tuple(user_ids))  # type: ignore[arg-type]  # checked: a dict


NOTIFICATION_RETRY_BODIES = json_codec(NotificationRetry.to_body, NotificationRetry.from_body)
