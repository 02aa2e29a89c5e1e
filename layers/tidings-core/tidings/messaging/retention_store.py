"""The retention sweep's DynamoDB adapter: the chats (the directory's walk of the Chats
table's `byType` index, then their retention in batches), each chat's log after the sweep's
mark, and the mark itself, kept on the chat item beside `headSeq`."""

from __future__ import annotations

from collections.abc import Iterator

from pynamodb.exceptions import UpdateError

from tidings.chats.directory import all_chat_ids
from tidings.chats.models import ChatModel
from tidings.messaging.models import MessageModel
from tidings.messaging.retention import ExpiredPage, RetainedChat

_BATCH_GET_LIMIT = 100  # BatchGetItem's


class DynamoRetentionStore:
    def chats(self) -> Iterator[RetainedChat]:
        batch: list[str] = []
        for chat_id in all_chat_ids():
            batch.append(chat_id)
            if len(batch) == _BATCH_GET_LIMIT:
                yield from _retained(batch)
                batch = []
        yield from _retained(batch)

    def expired(self, chat_id: str, after_seq: int, cutoff: str, limit: int) -> ExpiredPage:
        expired: list[int] = []
        swept = after_seq
        query = MessageModel.query(chat_id, MessageModel.seq > after_seq, limit=limit, page_size=limit)
        read = 0
        for item in query:
            read += 1
            if item.kind == "message":
                if item.created_at >= cutoff:
                    return ExpiredPage(expired, swept, done=True)
                if not item.deleted:
                    expired.append(int(item.seq))
            swept = int(item.seq)
        # A short page is the end of the log: nothing young yet, and nothing more to read.
        return ExpiredPage(expired, swept, done=read < limit)

    def mark_swept(self, chat_id: str, seq: int) -> None:
        try:
            ChatModel(chat_id).update(
                actions=[ChatModel.retention_swept_seq.set(seq)],
                condition=ChatModel.chat_id.exists()
                & (ChatModel.retention_swept_seq.does_not_exist() | (ChatModel.retention_swept_seq < seq)),
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            # another run got further (or the chat is gone): its mark stands


def _retained(chat_ids: list[str]) -> Iterator[RetainedChat]:
    if not chat_ids:
        return
    attributes = ["chatId", "retentionDays", "retentionSweptSeq"]
    for item in ChatModel.batch_get(chat_ids, attributes_to_get=attributes):
        yield RetainedChat(
            item.chat_id,
            None if item.retention_days is None else int(item.retention_days),
            int(item.retention_swept_seq or 0),
        )
