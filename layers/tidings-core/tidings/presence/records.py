"""From DynamoDB stream records of the Presence table to status changes."""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)

from tidings.presence.machine import OFFLINE
from tidings.presence.presence_fanout import StatusChange


def status_change(record: DynamoDBRecord) -> StatusChange | None:
    """The change of the status subscribers see, or None when the record changed something else
    (activity, connections of a user who stays online, a coalesced update waiting)."""
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
