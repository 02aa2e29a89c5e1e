"""DynamoDB implementation of the message store (chats, members, users, messages, claims)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import cache
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from tidings.domain.messages import DuplicateRequest, Message
from tidings.errors import NotFound
from tidings.storage.models import ChatModel, IdempotencyModel, MemberModel, MessageModel, ReactionsAttribute, UserModel

# BatchGetItem takes at most 100 keys; mention candidates are capped well below that.
_BATCH_GET_LIMIT = 100


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
        reactions={emoji: list(users) for emoji, users in _raw_map(item.reactions).items()},
    )


def _raw_map(attribute: ReactionsAttribute | None) -> dict[str, Any]:
    return attribute.as_dict() if attribute is not None else {}


def message_from_stream_image(image: dict[str, Any]) -> Message:
    """A message from a stream record's DynamoDB-JSON image (`NewImage`)."""
    return message_from_model(MessageModel.from_raw_data(image))


def _model_from_message(message: Message) -> MessageModel:
    return MessageModel(
        chat_id=message.chat_id,
        seq=message.seq,
        kind="message",
        message_id=message.message_id,
        sender_id=message.sender_id,
        sender_name=message.sender_name,
        content=message.content,
        reply_to=message.reply_to,
        attachments=message.attachments,
        mentions=message.mentions,
        priority=message.priority,
        created_at=message.created_at,
        edited_at=message.edited_at,
        deleted=message.deleted,
        reactions=message.reactions,
    )


class DynamoMessageStore:
    def members_among(self, chat_id: str, user_ids: set[str]) -> set[str]:
        keys = [(chat_id, user_id) for user_id in sorted(user_ids)[:_BATCH_GET_LIMIT]]
        return {member.user_id for member in MemberModel.batch_get(keys, attributes_to_get=["userId"])}

    def allocate_seq(self, chat_id: str) -> int:
        """The chat's next seq: one atomic ADD on the chat item, so concurrent senders never
        share a seq and a failed write leaves only a hole."""
        chat = ChatModel(chat_id)
        try:
            chat.update(
                actions=[ChatModel.head_seq.add(1)],
                condition=ChatModel.chat_id.exists(),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise NotFound(f"Chat {chat_id!r} does not exist") from exc
            raise
        return int(chat.head_seq)

    def append(self, message: Message, idempotency_key: str, claim_expires_at: int) -> None:
        claim = IdempotencyModel(
            idempotency_key,
            chat_id=message.chat_id,
            seq=message.seq,
            expires_at=datetime.fromtimestamp(claim_expires_at, UTC),
        )
        # A claim past its TTL may linger until DynamoDB deletes it; it no longer counts.
        claim_is_free = IdempotencyModel.key.does_not_exist() | (IdempotencyModel.expires_at < datetime.now(UTC))
        try:
            with TransactWrite(connection=_connection()) as transaction:
                transaction.save(claim, condition=claim_is_free)
                transaction.save(_model_from_message(message), condition=MessageModel.seq.does_not_exist())
        except TransactWriteError as exc:
            reasons = [reason.code if reason else None for reason in (exc.cancellation_reasons or [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                existing = IdempotencyModel.get(idempotency_key, consistent_read=True)
                raise DuplicateRequest(existing.chat_id, int(existing.seq)) from exc
            raise

    def get(self, chat_id: str, seq: int) -> Message | None:
        try:
            return message_from_model(MessageModel.get(chat_id, seq, consistent_read=True))
        except DoesNotExist:
            return None


class DynamoUserDirectory:
    """Display names, cached for the life of a Lambda container: they rarely change, and a
    stale name on a message is harmless."""

    def __init__(self, ttl_seconds: float = 300.0) -> None:
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, str]] = {}

    def display_name(self, user_id: str) -> str:
        cached = self._cache.get(user_id)
        now = time.monotonic()
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        try:
            name = UserModel.get(user_id).display_name
        except DoesNotExist:
            name = user_id
        self._cache[user_id] = (now, name)
        return name


class DynamoMemberDirectory:
    def member_ids(self, chat_id: str) -> list[str]:
        return [m.user_id for m in MemberModel.query(chat_id, attributes_to_get=["userId"])]


@cache
def _connection() -> Connection:
    """One connection (one botocore client) per container: creating a client costs more CPU
    than the transaction it sends."""
    return Connection(region=MessageModel.Meta.region)
