"""What arrives on notifications' queue: push jobs."""

from __future__ import annotations

import json

from tidings.kernel.delay_queue import Codec
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
