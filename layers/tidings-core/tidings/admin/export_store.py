"""A user's data, read from every feature's tables for the export: memberships (with read
watermarks and badges), the messages they wrote, their reactions, preferences and push
subscriptions. Queries and batch reads only: no Scan."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tidings.chats.models import ChatModel, MemberModel, UserModel
from tidings.messaging.models import REACTION_KEY_SEPARATOR, MessageModel
from tidings.notifications.models import PushSubscriptionModel


class DynamoUserData:
    def export(self, user_id: str) -> dict[str, Any]:
        user = UserModel.get(user_id, consistent_read=True)
        written = self._written(user_id)
        return {
            "memberships": self._memberships(user_id),
            "messages": [_message(item) for item in written if item.kind == "message"],
            "reactions": self._reactions(user_id, [item for item in written if item.kind == "reaction"]),
            # As stored: null means the defaults (docs/protocol.md, "Notifications").
            "preferences": user.notification_prefs,
            "badges": {"unread": int(user.total_unread or 0), "mentions": int(user.total_mentions or 0)},
            "pushSubscriptions": [_subscription(item) for item in PushSubscriptionModel.query(user_id)],
        }

    def _memberships(self, user_id: str) -> list[dict[str, Any]]:
        members = list(MemberModel.by_user.query(user_id))
        chats = {chat.chat_id: chat for chat in ChatModel.batch_get([m.chat_id for m in members])}
        rows = []
        for member in members:
            chat = chats.get(member.chat_id)
            rows.append(
                {
                    "chatId": member.chat_id,
                    "type": chat.chat_type if chat else None,
                    "name": chat.name if chat else None,
                    "role": member.role,
                    "joinedAt": member.joined_at,
                    "lastReadSeq": int(member.last_read_seq or 0),
                    "lastReadMessageId": member.last_read_message_id,
                    "unreadCount": int(member.unread_count or 0),
                    "mentionCount": int(member.mention_count or 0),
                }
            )
        return rows

    @staticmethod
    def _written(user_id: str) -> list[MessageModel]:
        """The items the user is the sender of (messages and their own events), oldest first."""
        keys = [(item.chat_id, int(item.seq)) for item in MessageModel.by_sender.query(user_id)]
        items = {(item.chat_id, int(item.seq)): item for item in _batch_get_messages(keys)}
        return [items[key] for key in keys if key in items]

    @staticmethod
    def _reactions(user_id: str, events: list[MessageModel]) -> list[dict[str, Any]]:
        """The reactions the user holds now: read off the messages they reacted to (a reaction
        event says what changed; the message says what stands)."""
        targets = sorted({(event.chat_id, int(event.target_seq)) for event in events if event.target_seq is not None})
        held = []
        suffix = f"{REACTION_KEY_SEPARATOR}{user_id}"
        for message in _batch_get_messages(targets):
            entries = message.reactions.as_dict() if message.reactions is not None else {}
            for key, at in sorted(entries.items()):
                if key.endswith(suffix):
                    emoji = key[: -len(suffix)]
                    held.append({"chatId": message.chat_id, "messageId": message.message_id, "emoji": emoji, "at": at})
        return held


def _batch_get_messages(keys: Iterable[tuple[str, int]]) -> list[MessageModel]:
    unique = list(dict.fromkeys(keys))
    return list(MessageModel.batch_get(unique)) if unique else []


def _message(item: MessageModel) -> dict[str, Any]:
    return {
        "chatId": item.chat_id,
        "seq": int(item.seq),
        "messageId": item.message_id,
        "content": item.content,
        "createdAt": item.created_at,
        "editedAt": item.edited_at,
        "deleted": bool(item.deleted),
        "replyTo": item.reply_to,
        "attachments": item.attachments,
        "mentions": list(item.mentions or []),
        "priority": item.priority,
    }


def _subscription(item: PushSubscriptionModel) -> dict[str, Any]:
    # The Web Push keys are left out: they encrypt pushes to the browser, they say nothing about
    # the user, and an export is a document that travels.
    row = {"subscriptionId": item.subscription_id, "platform": item.platform, "createdAt": item.created_at}
    if item.endpoint is not None:
        row["endpoint"] = item.endpoint
    if item.device_token is not None:
        row["deviceToken"] = item.device_token
    return row
