"""DynamoDB implementation of the sync store: reads the chat event log, never writes."""

from __future__ import annotations

from collections.abc import Sequence

from tidings.chats.models import ChatModel, MemberModel
from tidings.messaging.message import Message
from tidings.messaging.models import MessageModel
from tidings.messaging.records import change_of, message_from_model
from tidings.messaging.syncing import ChatHead, EventPage, StoredEvent
from tidings.messaging.wire import KINDS


class DynamoSyncStore:
    def heads(self, chat_ids: Sequence[str]) -> dict[str, ChatHead]:
        # Consistent: a stale headSeq would make sync skip an event the client just missed.
        chats = ChatModel.batch_get(
            list(dict.fromkeys(chat_ids)), consistent_read=True, attributes_to_get=["chatId", "headSeq", "type"]
        )
        return {chat.chat_id: ChatHead(int(chat.head_seq or 0), chat.chat_type or "") for chat in chats}

    def read_watermarks(self, chat_id: str) -> dict[str, int]:
        # Consistent: these are also the membership check, and a removed member is out at once.
        members = MemberModel.query(chat_id, consistent_read=True, attributes_to_get=["userId", "lastReadSeq"])
        return {member.user_id: int(member.last_read_seq or 0) for member in members}

    def events_after(self, chat_id: str, after_seq: int, limit: int) -> EventPage:
        """One Query for limit + 1 items (the extra one only says whether there is more), then
        one BatchGetItem for the messages that event items name and the page does not hold."""
        items = list(
            MessageModel.query(
                chat_id,
                MessageModel.seq > after_seq,
                consistent_read=True,
                scan_index_forward=True,
                limit=limit + 1,
                page_size=limit + 1,
            )
        )
        has_more = len(items) > limit
        items = items[:limit]
        in_page = {int(item.seq): message_from_model(item) for item in items if item.kind == "message"}
        wanted = sorted(
            {int(item.target_seq) for item in items if item.kind != "message" and item.target_seq is not None}
            - in_page.keys()
        )
        targets: dict[int, Message] = dict(in_page)
        if wanted:
            for target in MessageModel.batch_get([(chat_id, seq) for seq in wanted], consistent_read=True):
                targets[int(target.seq)] = message_from_model(target)

        events: list[StoredEvent] = []
        for item in items:
            change = change_of(item)
            if change is not None:
                events.append(StoredEvent(item.kind, int(item.seq), None, change))
                continue
            if item.kind not in KINDS:
                continue  # a kind this code does not know yet: skipped, but read past
            message = targets.get(int(item.seq) if item.kind == "message" else int(item.target_seq or -1))
            if message is not None:
                events.append(StoredEvent(item.kind, int(item.seq), message))
        return EventPage(events=events, has_more=has_more, last_seq=int(items[-1].seq) if items else None)
