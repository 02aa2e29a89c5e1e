"""How the push adapters read a push service's HTTP answer, and the timeouts they use."""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any

from tidings.domain.push import PushFailure, PushRejected, SubscriptionGone, TransientPushFailure

# Short, so that an unreachable push service costs the worker seconds, not its whole timeout.
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 5.0
# How long a push service keeps a notification for a device that is offline.
PUSH_TTL_SECONDS = 24 * 3600


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds (it may be a number or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def failure_for(status: int, message: str, retry_after: str | None = None) -> PushFailure:
    """404/410: gone. 429 and 5xx: transient. Anything else: rejected."""
    if status in (404, 410):
        return SubscriptionGone(message, status)
    if status == 429 or status >= 500:
        return TransientPushFailure(message, status, retry_after_seconds(retry_after))
    return PushRejected(message, status)


def parse_secret_json(raw: str | None) -> dict[str, Any] | None:
    """A platform's credentials are a JSON object; the unconfigured placeholder (`{}`), or
    anything that is not JSON, means the platform is not configured."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) and value else None
