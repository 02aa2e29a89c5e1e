"""Toast groups in the Ephemeral table."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import UpdateError

from tidings.kernel.ephemeral import EphemeralModel
from tidings.notifications.toasts import ToastGroup

# A group item only needs to outlive its window; the margin covers clock skew between containers.
_GROUP_TTL_MARGIN = timedelta(minutes=1)


@dataclass(frozen=True)
class DynamoToastGroups:
    """`toast#<userId>#<chatId>` -> the open group's toast id, count and start time."""

    new_id: Callable[[], str] = lambda: str(uuid.uuid4())

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
        group = ToastGroup(self.new_id(), 1)
        expires = datetime.fromtimestamp(now, UTC) + timedelta(seconds=window_seconds) + _GROUP_TTL_MARGIN
        EphemeralModel(key, group_id=group.id, group_count=1, updated_at=now, expires_at=expires).save()
        return group
