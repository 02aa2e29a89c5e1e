"""From DynamoDB stream records of the Messages table to chat event frames."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from tidings.domain.events import message_new
from tidings.storage.messages import message_from_stream_image


def chat_event_frame(record: DynamoDBRecord) -> tuple[str, dict[str, Any]] | None:
    """(chatId, frame) for a record that is a chat event, None for one that is not."""
    stream = record.dynamodb
    image = stream.raw_event.get("NewImage") if stream else None
    if not image:
        return None
    kind = image.get("kind", {}).get("S", "message")
    if kind != "message":
        return None
    message = message_from_stream_image(image)
    return message.chat_id, message_new(message)
