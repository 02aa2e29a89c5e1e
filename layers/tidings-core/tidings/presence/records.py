"""From DynamoDB stream records of the Presence table to status changes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tidings.kernel.delay_queue import Codec
from tidings.presence.machine import OFFLINE, ApplyTimer, IdleTimer, PresenceTimer
from tidings.presence.presence_fanout import StatusChange

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord


def status_change(record: DynamoDBRecord) -> StatusChange | None:
    """The change of the status subscribers see, or None when the record changed something else
    (activity, connections of a user who stays online, a coalesced update waiting)."""
    # Imported here: the timer bodies below are all most importers of this module use.
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecordEventName

    stream = record.dynamodb
    if stream is None or record.event_name not in (DynamoDBRecordEventName.INSERT, DynamoDBRecordEventName.MODIFY):
        return None
    new = stream.new_image
    if not new:
        return None
    old_status = str((stream.old_image or {}).get("status") or OFFLINE)
    new_status = str(new.get("status") or OFFLINE)
    if new_status == old_status:
        return None
    last_seen = new.get("lastSeen")
    return StatusChange(
        user_id=str(new["userId"]),
        old_status=old_status,
        new_status=new_status,
        last_seen=None if last_seen is None else float(last_seen),
        record_id=str(stream.sequence_number),
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


PRESENCE_TIMER_BODIES = Codec(presence_timer_body, presence_timer_from_body)
