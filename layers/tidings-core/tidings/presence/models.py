"""Presence's tables: one item per user (streamed to the presence fan-out) and the subscriptions."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection

from tidings.kernel.declaration import Table, TableMeta
from tidings.kernel.table_model import TableModel


class PresenceModel(TableModel):
    """A user's presence, one item per user who ever connected.

    `status` is what subscribers see; the stream (NEW_AND_OLD_IMAGES) carries its changes to
    the presence fan-out. Every other attribute is the state machine's input (domain/presence.py).
    Written with optimistic concurrency on `version`: read, compute, write if unchanged."""

    class Meta(TableMeta):
        table_name = "tidings-presence"

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    status = UnicodeAttribute(default="offline")
    manual_status = UnicodeAttribute(attr_name="manualStatus", null=True)  # set by presence.update
    idle = BooleanAttribute(default=False)  # no activity for the idle time (automatic away)
    connection_ids = UnicodeSetAttribute(attr_name="connectionIds", null=True)  # open connections
    last_active_at = NumberAttribute(attr_name="lastActiveAt", default=0)  # epoch s, fractional
    last_seen = NumberAttribute(attr_name="lastSeen", null=True)  # epoch s: when it went offline
    idle_chain = UnicodeAttribute(attr_name="idleChain", null=True)  # the live idle timer chain
    applied_at = NumberAttribute(attr_name="appliedAt", null=True)  # last presence.update applied
    pending_status = UnicodeAttribute(attr_name="pendingStatus", null=True)  # coalesced, waiting
    version = NumberAttribute(default=0)


class PresenceSubscribersIndex(GlobalSecondaryIndex["PresenceSubscriptionModel"]):
    """What one user subscribed to (sync's `presence` list, unsubscribe needs none of it)."""

    class Meta:
        index_name = "bySubscriber"
        projection = IncludeProjection(["expiresAt"])

    subscriber_id = UnicodeAttribute(hash_key=True, attr_name="subscriberId")
    user_id = UnicodeAttribute(range_key=True, attr_name="userId")


class PresenceSubscriptionModel(TableModel):
    """`subscriberId` wants `userId`'s presence changes, until `expiresAt` (10 minutes, renewed
    by subscribing again). Partitioned by the watched user, so the subscribers of a changed user
    are one Query. TTL deletion is lazy: readers also drop items whose `expiresAt` has passed."""

    class Meta(TableMeta):
        table_name = "tidings-presence-subscriptions"

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    subscriber_id = UnicodeAttribute(range_key=True, attr_name="subscriberId")
    expires_at = TTLAttribute(attr_name="expiresAt")
    by_subscriber = PresenceSubscribersIndex()


# --- the tables --------------------------------------------------------------------------------

# The stream carries status changes to the presence fan-out.
PRESENCE = Table("Presence", PresenceModel, stream="NEW_AND_OLD_IMAGES")
# Subscriptions lapse by TTL (and a check at read time, since TTL deletion is lazy).
PRESENCE_SUBSCRIPTIONS = Table("PresenceSubscriptions", PresenceSubscriptionModel)
