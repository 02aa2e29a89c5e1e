"""Push subscriptions in DynamoDB: one item per (user, subscription), a user's devices in one Query."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from pynamodb.attributes import MapAttribute

from tidings.notifications.models import PushSubscriptionModel
from tidings.notifications.push_delivery import PushSubscription


def _model(subscription: PushSubscription) -> PushSubscriptionModel:
    keys: MapAttribute[str, str] | None = None
    if subscription.p256dh and subscription.auth:
        keys = MapAttribute(p256dh=subscription.p256dh, auth=subscription.auth)  # type: ignore[call-arg]
    expires_at = datetime.fromtimestamp(subscription.expires_at, UTC) if subscription.expires_at else None
    return PushSubscriptionModel(
        user_id=subscription.user_id,
        subscription_id=subscription.id,
        platform=subscription.platform,
        endpoint=subscription.endpoint,
        keys=keys,
        device_token=subscription.device_token,
        created_at=subscription.created_at,
        expires_at=expires_at,
    )


def _subscription(item: PushSubscriptionModel) -> PushSubscription:
    keys = item.keys.as_dict() if item.keys is not None else {}
    return PushSubscription(
        user_id=item.user_id,
        platform=item.platform,
        endpoint=item.endpoint,
        p256dh=keys.get("p256dh"),
        auth=keys.get("auth"),
        device_token=item.device_token,
        created_at=item.created_at,
        expires_at=int(item.expires_at.timestamp()) if item.expires_at else None,
    )


class DynamoSubscriptionStore:
    def save(self, subscription: PushSubscription) -> None:
        """Puts the item (a re-registration overwrites it), after deleting the same subscription
        from any other user: the device now belongs to this one."""
        for other in PushSubscriptionModel.by_subscription.query(subscription.id):
            if other.user_id != subscription.user_id:
                PushSubscriptionModel(other.user_id, other.subscription_id).delete()
        _model(subscription).save()

    def remove(self, user_id: str, subscription_id: str) -> None:
        PushSubscriptionModel(user_id, subscription_id).delete()

    def remove_all(self, user_id: str) -> int:
        """Deletes every subscription of the user (their erasure); how many there were."""
        items = list(PushSubscriptionModel.query(user_id))
        with PushSubscriptionModel.batch_write() as batch:
            for item in items:
                batch.delete(item)
        return len(items)

    def for_user(self, user_id: str) -> list[PushSubscription]:
        """The user's subscriptions, without the expired ones TTL has not swept yet."""
        now = time.time()
        subscriptions = [_subscription(item) for item in PushSubscriptionModel.query(user_id)]
        return [s for s in subscriptions if s.expires_at is None or s.expires_at > now]
