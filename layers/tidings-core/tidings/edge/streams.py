"""From DynamoDB stream records of the Messages table to chat event frames."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)

from tidings.domain.events import KINDS, event_frame
from tidings.domain.messages import Message
from tidings.storage.messages import message_from_stream_image


def chat_event_frame(
    record: DynamoDBRecord, load_message: Callable[[str, int], Message | None]
) -> tuple[str, dict[str, Any]] | None:
    """(chatId, frame) for a record that is a chat event, None for one that is not.

    A `message` item carries the message itself; an event item names it by `targetSeq`, and the
    message is read as it is now. Only INSERTs are events: a MODIFY is a message item being
    updated by an event that has its own item (the event source filters these out too)."""
    if record.event_name != DynamoDBRecordEventName.INSERT:
        return None
    stream = record.dynamodb
    image = stream.raw_event.get("NewImage") if stream else None
    if not image:
        return None
    kind = image.get("kind", {}).get("S", "message")
    if kind not in KINDS:
        return None
    item = message_from_stream_image(image)
    if kind == "message":
        return item.chat_id, event_frame(kind, item.seq, item)
    target = load_message(item.chat_id, int(image["targetSeq"]["N"]))
    if target is None:
        return None
    return item.chat_id, event_frame(kind, item.seq, target)
