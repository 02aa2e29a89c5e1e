"""Typing state in the Ephemeral table: `typing#<chatId>#<userId>` -> the last start (TTL'd)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError

from tidings.kernel.ephemeral import EphemeralModel

# Far longer than the 5 s timeout: the item only outlives its timer if a timer is lost.
_STATE_TTL = timedelta(minutes=2)


def _key(chat_id: str, user_id: str) -> str:
    return f"typing#{chat_id}#{user_id}"


def _conditional_failure(exc: UpdateError | DeleteError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


class DynamoTypingStateStore:
    def started_at(self, chat_id: str, user_id: str) -> float | None:
        try:
            item = EphemeralModel.get(_key(chat_id, user_id), consistent_read=True)
        except DoesNotExist:
            return None
        return float(item.updated_at) if item.updated_at is not None else None

    def mark_typing(self, chat_id: str, user_id: str, at: float) -> None:
        EphemeralModel(_key(chat_id, user_id), updated_at=at, expires_at=datetime.now(UTC) + _STATE_TTL).save()

    def extend_if_typing(self, chat_id: str, user_id: str, at: float) -> None:
        try:
            EphemeralModel(_key(chat_id, user_id)).update(
                actions=[EphemeralModel.updated_at.set(at)], condition=EphemeralModel.key.exists()
            )
        except UpdateError as exc:
            if not _conditional_failure(exc):
                raise

    def clear(self, chat_id: str, user_id: str, *, if_started_at: float | None = None) -> bool:
        condition = EphemeralModel.key.exists()
        if if_started_at is not None:
            condition &= EphemeralModel.updated_at == if_started_at
        try:
            EphemeralModel(_key(chat_id, user_id)).delete(condition=condition)
        except DeleteError as exc:
            if _conditional_failure(exc):
                return False
            raise
        return True
