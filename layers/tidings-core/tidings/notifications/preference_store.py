"""Notification preferences on the user item."""

from __future__ import annotations

from collections.abc import Sequence

from pynamodb.exceptions import DoesNotExist

from tidings.chats.models import UserModel
from tidings.notifications.preferences import NotificationPreferences


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
