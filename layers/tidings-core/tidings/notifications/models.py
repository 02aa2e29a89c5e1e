"""The push subscriptions table."""

from __future__ import annotations

from pynamodb.attributes import (
    MapAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from tidings.kernel.declaration import Table, TableMeta
from tidings.kernel.table_model import TableModel


class PushSubscriptionsById(GlobalSecondaryIndex["PushSubscriptionModel"]):
    """Who else holds a subscription: a device that signs in as another user re-registers the
    same endpoint or token, and the previous user must stop receiving pushes on it."""

    class Meta:
        index_name = "bySubscription"
        projection = KeysOnlyProjection()

    subscription_id = UnicodeAttribute(hash_key=True, attr_name="subscriptionId")


class PushSubscriptionModel(TableModel):
    """A device that receives pushes for a user: a Web Push subscription or an
    FCM/APNs device token. The push worker reads a user's subscriptions with one Query."""

    class Meta(TableMeta):
        table_name = "tidings-push-subscriptions"

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    # SHA-256 (hex) of the endpoint (Web Push) or of "platform:deviceToken": stable, so a
    # re-registration overwrites instead of duplicating, and DELETE can name it.
    subscription_id = UnicodeAttribute(range_key=True, attr_name="subscriptionId")
    platform = UnicodeAttribute()  # webpush | fcm | apns
    endpoint = UnicodeAttribute(null=True)  # webpush
    keys: MapAttribute[str, str] = MapAttribute(null=True)  # webpush: {p256dh, auth}, base64url
    device_token = UnicodeAttribute(attr_name="deviceToken", null=True)  # fcm | apns
    created_at = UnicodeAttribute(attr_name="createdAt")
    # The Web Push subscription's `expirationTime`, when the browser gave one: TTL removes it.
    expires_at = TTLAttribute(attr_name="expiresAt", null=True)
    by_subscription = PushSubscriptionsById()


PUSH_SUBSCRIPTIONS = Table("PushSubscriptions", PushSubscriptionModel)
