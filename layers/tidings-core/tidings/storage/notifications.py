"""What the Notify pipeline reads and keeps: preferences (on the user item), toast groups (in
Ephemeral) and chat names and types (cached per container)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import DoesNotExist, UpdateError

from tidings.domain.preferences import NotificationPreferences
from tidings.domain.toasts import ChatInfo, ToastGroup
from tidings.kernel.caching import ExpiringCache
from tidings.storage.models import ChatModel, EphemeralModel, UserModel

# A group item only needs to outlive its window; the margin covers clock skew between containers.
_GROUP_TTL_MARGIN = timedelta(minutes=1)


class DynamoPreferenceStore:
    def get(self, user_id: str) -> NotificationPreferences:
        try:
            user = UserModel.get(user_id, attributes_to_get=["userId", "notificationPrefs"])
        except DoesNotExist:
            return NotificationPreferences()
        return _parse(user.notification_prefs)

    def put(self, user_id: str, prefs: NotificationPreferences) -> None:
        # An update, not a save: the user item also holds badge totals and revocations.
        UserModel(user_id).update(actions=[UserModel.notification_prefs.set(prefs.to_wire())])

    def for_users(self, user_ids: Sequence[str]) -> dict[str, NotificationPreferences]:
        users = UserModel.batch_get(list(dict.fromkeys(user_ids)), attributes_to_get=["userId", "notificationPrefs"])
        return {user.user_id: _parse(user.notification_prefs) for user in users}


def _parse(stored: object) -> NotificationPreferences:
    return NotificationPreferences.model_validate(stored) if stored else NotificationPreferences()


class DynamoToastGroups:
    """`toast#<userId>#<chatId>` -> the open group's toast id, count and start time."""

    def __init__(self, new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self._new_id = new_id

    def join(self, user_id: str, chat_id: str, now: float, window_seconds: float) -> ToastGroup:
        key = f"toast#{user_id}#{chat_id}"
        item = EphemeralModel(key)
        try:
            # Counted into the open group, if it opened within the window (`updatedAt` is its start).
            item.update(
                actions=[EphemeralModel.group_count.add(1)], condition=EphemeralModel.updated_at > now - window_seconds
            )
            return ToastGroup(str(item.group_id), int(item.group_count))
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
        # A chat's records arrive in order on one shard, so no other writer races this put.
        group = ToastGroup(self._new_id(), 1)
        expires = datetime.fromtimestamp(now, UTC) + timedelta(seconds=window_seconds) + _GROUP_TTL_MARGIN
        EphemeralModel(key, group_id=group.id, group_count=1, updated_at=now, expires_at=expires).save()
        return group


class CachedChatDirectory:
    """Chat names and types, cached for the life of a container: they rarely change, and a
    stale name in a toast is harmless."""

    def __init__(self, ttl_seconds: float = 300.0) -> None:
        self._chats = ExpiringCache(_chat_info, ttl_seconds)

    def chat(self, chat_id: str) -> ChatInfo:
        return self._chats.get(chat_id)


def _chat_info(chat_id: str) -> ChatInfo:
    try:
        item = ChatModel.get(chat_id, attributes_to_get=["chatId", "name", "type"])
    except DoesNotExist:
        return ChatInfo(chat_id, None, "group")
    return ChatInfo(chat_id, item.name, item.chat_type)
