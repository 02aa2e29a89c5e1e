"""Messaging's items and records as its own types: a message item (or a stream image of one) as a
`Message`, and the records of the Messages and Members streams."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tidings.chats.membership_events import KINDS as CHANGE_KINDS
from tidings.chats.membership_events import ChatChange, change_frame
from tidings.kernel.delay_queue import Codec
from tidings.kernel.stream_records import is_insert, new_item
from tidings.messaging.message import Message
from tidings.messaging.models import REACTION_KEY_SEPARATOR, MessageModel
from tidings.messaging.receipts import Advance, Watermark
from tidings.messaging.typing_indicators import TypingTimer
from tidings.messaging.wire import KINDS, event_frame

if TYPE_CHECKING:
    # Only the stream consumers handle records (and load Powertools' data classes to parse them).
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord


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
        trace_id=item.trace_id,
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


@dataclass(frozen=True)
class ChatEventRecord:
    """An INSERT of the Messages stream: a chat event of `kind` (message, edit, delete,
    reaction, a membership or chat event, or one this code does not know), its item as a
    `Message` (an event item holds no content), for a message event the seq of the message it
    is about, and for a membership or chat event what it changed."""

    kind: str
    item: Message
    target_seq: int | None
    change: ChatChange | None = None


def change_of(item: MessageModel) -> ChatChange | None:
    """The membership or chat event an item of the log holds; None for a message event."""
    if item.kind not in CHANGE_KINDS:
        return None
    return ChatChange(str(item.kind), item.chat_id, int(item.seq), item.subject_id, item.role, dict(item.chat or {}))


def chat_event(record: DynamoDBRecord) -> ChatEventRecord | None:
    """The chat event a Messages stream record carries; None for anything but an INSERT: a
    MODIFY is a message item being updated by an event that has its own item (the event
    source filters these out too)."""
    if not is_insert(record):
        return None
    item = new_item(record, MessageModel)
    if item is None:
        return None
    target = None if item.target_seq is None else int(item.target_seq)
    return ChatEventRecord(str(item.kind or "message"), message_from_model(item), target, change_of(item))


def chat_event_frame(
    event: ChatEventRecord, load_message: Callable[[str, int], Message | None]
) -> dict[str, Any] | None:
    """The frame of a chat event the clients know (of `event.item.chat_id`), None for one they
    do not.

    A `message` item carries the message itself; an event item names it by `targetSeq`, and the
    message is read as it is now. A membership or chat event's frame is the chats feature's."""
    if event.change is not None:
        return change_frame(event.change)
    if event.kind not in KINDS:
        return None
    item = event.item
    if event.kind == "message":
        return event_frame(event.kind, item.seq, item)
    target = load_message(item.chat_id, event.target_seq) if event.target_seq is not None else None
    if target is None:
        return None
    return event_frame(event.kind, item.seq, target)


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


def typing_timer_from_body(body: str) -> TypingTimer:
    data = json.loads(body)
    return TypingTimer(chat_id=str(data["chat_id"]), user_id=str(data["user_id"]), started_at=float(data["started_at"]))


TYPING_TIMER_BODIES = Codec(lambda timer: json.dumps(asdict(timer)), typing_timer_from_body)


def advance_of(record: DynamoDBRecord) -> Advance | None:
    """A Members stream record that moved a read watermark forward, with what the receipts
    consumer needs to know of it: whether the member's own message moved it, and whether the
    member had unread or mentions left in the chat."""
    mark = watermark_advance(record)
    if mark is None or record.dynamodb is None:
        return None
    image = record.dynamodb.new_image
    return Advance(
        mark,
        by_send=image.get("lastReadBy") == "send",
        had_counts=bool(int(image.get("unreadCount") or 0) or int(image.get("mentionCount") or 0)),
    )
