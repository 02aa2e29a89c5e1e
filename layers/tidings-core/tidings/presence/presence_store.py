"""Presence in DynamoDB: the Presence table (one item per user, streamed to the fan-out) and
PresenceSubscriptions (who watches whom, partitioned by the watched user, TTL'd)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pynamodb.exceptions import PutError, UpdateError

from tidings.presence.machine import AWAY, OFFLINE, PresenceState
from tidings.presence.models import PresenceModel, PresenceSubscriptionModel

BATCH_GET_MAX_KEYS = 100


def _conditional_failure(exc: PutError | UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


def _state(item: PresenceModel) -> PresenceState:
    return PresenceState(
        user_id=item.user_id,
        status=item.status or OFFLINE,
        manual_status=item.manual_status,
        idle=bool(item.idle),
        connection_ids=frozenset(item.connection_ids or ()),
        last_active_at=float(item.last_active_at or 0),
        last_seen=None if item.last_seen is None else float(item.last_seen),
        idle_chain=item.idle_chain,
        applied_at=None if item.applied_at is None else float(item.applied_at),
        pending_status=item.pending_status,
        version=int(item.version or 0),
    )


class DynamoPresenceStore:
    def load(self, user_id: str) -> PresenceState | None:
        try:
            return _state(PresenceModel.get(user_id, consistent_read=True))
        except PresenceModel.DoesNotExist:
            return None

    def save(self, state: PresenceState, expected_version: int) -> bool:
        item = PresenceModel(
            state.user_id,
            status=state.status,
            manual_status=state.manual_status,
            idle=state.idle,
            connection_ids=set(state.connection_ids) or None,
            last_active_at=state.last_active_at,
            last_seen=state.last_seen,
            idle_chain=state.idle_chain,
            applied_at=state.applied_at,
            pending_status=state.pending_status,
            version=expected_version + 1,
        )
        condition = (
            PresenceModel.user_id.does_not_exist()
            if expected_version == 0
            else PresenceModel.version == expected_version
        )
        try:
            item.save(condition=condition)
        except PutError as exc:
            if _conditional_failure(exc):
                return False
            raise
        return True

    def touch(self, user_id: str, connection_id: str, at: float) -> bool:
        """One conditional UpdateItem: records the activity when the connection is known and the
        user is not automatically away. The version moves too, so a concurrent idle check that
        read the older activity cannot write `away` over it."""
        automatic_away = (PresenceModel.status == AWAY) & PresenceModel.manual_status.does_not_exist()
        try:
            PresenceModel(user_id).update(
                actions=[PresenceModel.last_active_at.set(at), PresenceModel.version.add(1)],
                condition=PresenceModel.connection_ids.contains(connection_id) & ~automatic_away,
            )
        except UpdateError as exc:
            if _conditional_failure(exc):
                return False
            raise
        return True

    def forget(self, user_id: str) -> None:
        """Deletes the user's presence item (their erasure). The stream's REMOVE is no status
        change: the fan-out follows INSERTs and MODIFYs only, and the user's last connection
        closing has told the subscribers they are offline."""
        PresenceModel(user_id).delete()

    def states(self, user_ids: Sequence[str]) -> dict[str, PresenceState]:
        """Read consistently: a snapshot must not be older than a change already announced."""
        found: dict[str, PresenceState] = {}
        unique = list(dict.fromkeys(user_ids))
        for start in range(0, len(unique), BATCH_GET_MAX_KEYS):
            for item in PresenceModel.batch_get(unique[start : start + BATCH_GET_MAX_KEYS], consistent_read=True):
                found[item.user_id] = _state(item)
        return found

    def statuses(self, user_ids: Sequence[str]) -> dict[str, str]:
        """What others see now for each user ("offline" for a user never seen), in one
        eventually consistent BatchGetItem per 100: for notifications, which skip toasts and
        push for `dnd`."""
        unique = list(dict.fromkeys(user_ids))
        found = {user_id: OFFLINE for user_id in unique}
        for start in range(0, len(unique), BATCH_GET_MAX_KEYS):
            for item in PresenceModel.batch_get(
                unique[start : start + BATCH_GET_MAX_KEYS], attributes_to_get=["userId", "status"]
            ):
                found[item.user_id] = item.status or OFFLINE
        return found

    def status_of(self, user_id: str) -> str:
        return self.statuses([user_id])[user_id]


class DynamoPresenceSubscriptions:
    def subscribe(self, subscriber_id: str, user_ids: Sequence[str], expires_at: float) -> None:
        expiry = datetime.fromtimestamp(expires_at, UTC)
        with PresenceSubscriptionModel.batch_write() as batch:
            for user_id in user_ids:
                batch.save(PresenceSubscriptionModel(user_id, subscriber_id, expires_at=expiry))

    def unsubscribe(self, subscriber_id: str, user_ids: Sequence[str]) -> None:
        with PresenceSubscriptionModel.batch_write() as batch:
            for user_id in user_ids:
                batch.delete(PresenceSubscriptionModel(user_id, subscriber_id))

    def end_between(self, user_id: str, others: Sequence[str]) -> None:
        """Both directions, in one BatchWriteItem run (split into 25s, retried by PynamoDB)."""
        with PresenceSubscriptionModel.batch_write() as batch:
            for other in others:
                batch.delete(PresenceSubscriptionModel(other, user_id))
                batch.delete(PresenceSubscriptionModel(user_id, other))

    def end_all(self, user_id: str) -> None:
        """Every subscription of the user and to the user, lapsed ones too (their erasure)."""
        watched = [item.user_id for item in PresenceSubscriptionModel.by_subscriber.query(user_id)]
        watchers = [item.subscriber_id for item in PresenceSubscriptionModel.query(user_id)]
        with PresenceSubscriptionModel.batch_write() as batch:
            for other in watched:
                batch.delete(PresenceSubscriptionModel(other, user_id))
            for other in watchers:
                batch.delete(PresenceSubscriptionModel(user_id, other))

    def subscribers_of(self, user_id: str, now: float) -> list[str]:
        """One Query of the watched user's partition; lapsed items that TTL has not deleted yet
        are skipped here."""
        return [
            item.subscriber_id for item in PresenceSubscriptionModel.query(user_id) if item.expires_at.timestamp() > now
        ]

    def subscribed_by(self, subscriber_id: str, now: float) -> list[str]:
        return [
            item.user_id
            for item in PresenceSubscriptionModel.by_subscriber.query(subscriber_id)
            if item.expires_at is not None and item.expires_at.timestamp() > now
        ]
