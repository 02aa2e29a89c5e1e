"""Retention sweep (an hourly EventBridge schedule): deletes the messages older than their
chat's `retentionDays`, or the deployment's `RETENTION_DAYS` (`tidings.messaging.retention`).
The cutoff counts from the schedule's own time (the event's `time`), so a run that starts late
deletes nothing younger than it should; a run that runs out of time leaves the rest to the next."""

from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tidings.attachments import compose as attachments
from tidings.chats.membership import PLATFORM
from tidings.kernel.environment import Environment, cold_start
from tidings.kernel.handlers import consumer_entry
from tidings.messaging import compose as messaging
from tidings.messaging.declaration import RETENTION_SWEEP
from tidings.messaging.retention import RetentionSweep

# Time kept for the slowest step (one page of deletes) after the last check.
RESERVED_MILLISECONDS = 30_000


@cold_start(RETENTION_SWEEP)
def _sweep(environment: Environment) -> RetentionSweep:
    return messaging.retention_sweep(
        environment,
        actor_id=PLATFORM.actor_id,
        actor_name=PLATFORM.actor_name,
        attachments=attachments.sent_attachments(environment),
    )


@consumer_entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    scheduled_at = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()
    report = _sweep().run(scheduled_at, has_time=lambda: context.get_remaining_time_in_millis() > RESERVED_MILLISECONDS)
    return {"chats": report.chats, "deleted": report.deleted, "finished": report.finished}
