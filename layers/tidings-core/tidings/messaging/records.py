"""Messaging's items and records as its own types: a message item (or a stream image of one) as a
`Message`, and the records of the Messages and Members streams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)

from tidings.messaging.message import Message
from tidings.messaging.models import REACTION_KEY_SEPARATOR, MessageModel
from tidings.messaging.receipts import Watermark
from tidings.messaging.wire import KINDS, event_frame


def message_from_model(item: MessageModel) -> Message:
    return Message(
        message_id=item.message_id,
        chat_id=item.chat_id,
        seq=int(item.seq),
        sender_id=item.sender_id,
        sender_name=item.sender_name,
        content=item.content,
        created_at=item.created_at,
        reply_to=item.reply_to,
        attachments=list(item.attachments or []),
        mentions=[str(name) for name in item.mentions or []],
        priority=item.priority,
        edited_at=item.edited_at,
        deleted=bool(item.deleted),
        reactions=reactions_by_emoji(item.reactions.as_dict() if item.reactions is not None else {}),
    )


def reaction_key(emoji: str, user_id: str) -> str:
    return f"{emoji}{REACTION_KEY_SEPARATOR}{user_id}"


def reactions_by_emoji(entries: dict[str, Any]) -> dict[str, list[str]]:
    """`{"<emoji>\x1f<user>": added_at}` -> `{emoji: [users, in the order they reacted]}`."""
    grouped: dict[str, list[str]] = {}
    for key, _ in sorted(entries.items(), key=lambda entry: str(entry[1])):
        emoji, _, user_id = key.partition(REACTION_KEY_SEPARATOR)
        grouped.setdefault(emoji, []).append(user_id)
    return grouped


def message_from_stream_image(image: dict[str, Any]) -> Message:
    """A message from a stream record's DynamoDB-JSON image (`NewImage`)."""
    return message_from_model(MessageModel.from_raw_data(image))


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


def watermark_advance(record: DynamoDBRecord) -> Watermark | None:
    """The new watermark when this record moved `lastReadSeq` forward, else None."""
    stream = record.dynamodb
    if stream is None:
        return None
    new, old = stream.new_image, stream.old_image
    new_seq, old_seq = int(new.get("lastReadSeq") or 0), int(old.get("lastReadSeq") or 0)
    if new_seq <= old_seq:
        return None
    return Watermark(
        chat_id=str(new["chatId"]),
        user_id=str(new["userId"]),
        seq=new_seq,
        message_id=new.get("lastReadMessageId"),
    )
