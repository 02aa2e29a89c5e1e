"""PynamoDB models: the one definition of every table's keys, indexes and attributes.

The CDK stack and the local runtime both create tables from these classes (through
`tidings.app`), and tests build their moto tables from them too, so nothing can drift.

Table names are bound when the class is defined, which is PynamoDB's design. The deployed name
arrives through an environment variable that CDK sets; without it the local default applies.
This module is the only place in the shared code that reads the environment for storage.
"""

from __future__ import annotations

import os

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model


def _table_name(env_var: str, default: str) -> str:
    return os.environ.get(env_var, default)


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


class _Meta:
    billing_mode = "PAY_PER_REQUEST"
    region = _region()


# --- connections --------------------------------------------------------------------------


class ConnectionsByUser(GlobalSecondaryIndex["ConnectionModel"]):
    """A user's connections by index. Tidings itself no longer reads it (a GSI is eventually
    consistent, so concurrent `$connect`s each saw a partial set): `UserConnectionsModel` is
    the record of a user's live connections. Kept until nothing queries it any more."""

    class Meta:
        index_name = "byUser"
        projection = KeysOnlyProjection()

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    connected_at = NumberAttribute(range_key=True, attr_name="connectedAt")


class ConnectionModel(Model):
    """One open connection, by id: what every frame of it and every timer needs to know.
    A user's connections are found through `UserConnectionsModel`."""

    class Meta(_Meta):
        table_name = _table_name("CONNECTIONS_TABLE", "tidings-connections")

    connection_id = UnicodeAttribute(hash_key=True, attr_name="connectionId")
    user_id = UnicodeAttribute(attr_name="userId")
    connected_at = NumberAttribute(attr_name="connectedAt")  # epoch milliseconds
    token_expires_at = NumberAttribute(attr_name="tokenExpiresAt")  # epoch seconds
    # Set by `hello` (PROTOCOL.md §3); a connection that never said hello speaks version 1.
    protocol_version = NumberAttribute(attr_name="protocolVersion", null=True)
    client = UnicodeAttribute(null=True)  # `hello.client`, e.g. "web/1.4.2"
    # The chat this connection shows now (`chat.focus`); notifications read it.
    focus_chat_id = UnicodeAttribute(attr_name="focusChatId", null=True)
    # API Gateway closes every connection after 2 h; TTL sweeps items whose $disconnect was lost.
    expires_at = TTLAttribute(attr_name="expiresAt")
    by_user = ConnectionsByUser()


class UserConnectionsModel(Model):
    """A user's live connections on one item: `connections` maps connectionId -> connectedAt
    (epoch ms). Every change is one UpdateItem that returns the item as it left it, so a
    `$connect` sees exactly the connections it counts against the limit, and revoke exactly
    the ones it closes (a GSI would be eventually consistent). Fan-out reads it by user."""

    class Meta(_Meta):
        table_name = _table_name("USER_CONNECTIONS_TABLE", "tidings-user-connections")

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    # A raw map (plain MapAttribute), so expressions can address one connection's entry.
    connections: MapAttribute[str, int] = MapAttribute(default=dict)
    # The last connect + 3 h: every entry is dead by then (API Gateway's 2 h limit).
    expires_at = TTLAttribute(attr_name="expiresAt")


# --- users and chats ----------------------------------------------------------------------


class UserModel(Model):
    class Meta(_Meta):
        table_name = _table_name("USERS_TABLE", "tidings-users")

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    display_name = UnicodeAttribute(attr_name="displayName")
    # `POST /api/auth/revoke`: tokens and refresh tokens issued at or before this (epoch
    # seconds) are refused.
    revoked_before = NumberAttribute(attr_name="revokedBefore", null=True)
    # Badge totals over all the user's chats, kept by atomic ADDs beside the per-chat counts.
    total_unread = NumberAttribute(attr_name="totalUnread", default=0)
    total_mentions = NumberAttribute(attr_name="totalMentions", default=0)
    # `PUT /api/prefs` (seed §3.6), as validated JSON; absent means the defaults.
    notification_prefs = JSONAttribute(attr_name="notificationPrefs", null=True)


class ChatsByType(GlobalSecondaryIndex["ChatModel"]):
    """Every chat, by type, without a Scan: `tidings reindex` walks it (a handful of
    partitions, read only by that batch job). Keys only, so `headSeq` updates never touch it."""

    class Meta:
        index_name = "byType"
        projection = KeysOnlyProjection()

    chat_type = UnicodeAttribute(hash_key=True, attr_name="type")
    chat_id = UnicodeAttribute(range_key=True, attr_name="chatId")


class ChatModel(Model):
    """A chat's metadata and its seq counter (`headSeq`), which is advanced atomically."""

    class Meta(_Meta):
        table_name = _table_name("CHATS_TABLE", "tidings-chats")

    chat_id = UnicodeAttribute(hash_key=True, attr_name="chatId")
    name = UnicodeAttribute(null=True)
    chat_type = UnicodeAttribute(attr_name="type")  # dm | group | channel
    head_seq = NumberAttribute(attr_name="headSeq", default=0)
    created_at = UnicodeAttribute(attr_name="createdAt")
    by_type = ChatsByType()


class MembershipsByUser(GlobalSecondaryIndex["MemberModel"]):
    """A user's chats, for the chat list and multi-chat sync."""

    class Meta:
        index_name = "byUser"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    chat_id = UnicodeAttribute(range_key=True, attr_name="chatId")


class MemberModel(Model):
    """Membership, partitioned by chat so a chat's members are one Query."""

    class Meta(_Meta):
        table_name = _table_name("MEMBERS_TABLE", "tidings-members")

    chat_id = UnicodeAttribute(hash_key=True, attr_name="chatId")
    user_id = UnicodeAttribute(range_key=True, attr_name="userId")
    role = UnicodeAttribute(default="member")  # member | admin
    joined_at = UnicodeAttribute(attr_name="joinedAt")
    # The read watermark (PROTOCOL.md §5): only ever moves forward.
    last_read_seq = NumberAttribute(attr_name="lastReadSeq", default=0)
    last_read_message_id = UnicodeAttribute(attr_name="lastReadMessageId", null=True)
    # What moved the watermark last: "mark" (read.mark) or "send" (the member's own message,
    # which moves it in the send's transaction). The receipts consumer sends no read.receipt for
    # a "send": the message.new already tells the others.
    last_read_by = UnicodeAttribute(attr_name="lastReadBy", null=True)
    # Badges (seed §3.3): changed only by atomic ADDs, or reset by a recount from the watermark.
    unread_count = NumberAttribute(attr_name="unreadCount", default=0)
    mention_count = NumberAttribute(attr_name="mentionCount", default=0)
    by_user = MembershipsByUser()


# --- messages and chat events -------------------------------------------------------------


# Reactions: a raw map (plain MapAttribute, so PynamoDB lets expressions address its keys) with
# one entry per (emoji, user): `"<emoji>\x1f<userId>" -> added-at`. A flat entry per reaction
# makes an add or remove one conditional update of one key: concurrent reactions never race,
# and a duplicate add changes nothing.
REACTION_KEY_SEPARATOR = "\x1f"


class MessagesByMessageId(GlobalSecondaryIndex["MessageModel"]):
    """Resolves a messageId (edit, delete, react, read.mark) to its chat and seq."""

    class Meta:
        index_name = "byMessageId"
        projection = KeysOnlyProjection()

    message_id = UnicodeAttribute(hash_key=True, attr_name="messageId")


class MessageModel(Model):
    """The chat event log, partitioned by chat with the seq as sort key.

    A `message` item is the message itself at its creation seq, kept current (edits, deletes
    and reactions update it in place). Every later chat event is also an item of its own kind
    (`edit`, `delete`, `reaction`) at its own seq, naming the message (`messageId`, `targetSeq`)
    but holding no content, so sync is one Query (`seq > lastKnownSeq`), the stream carries
    every event in order, and a delete erases the content in one place.
    """

    class Meta(_Meta):
        table_name = _table_name("MESSAGES_TABLE", "tidings-messages")

    chat_id = UnicodeAttribute(hash_key=True, attr_name="chatId")
    seq = NumberAttribute(range_key=True)
    kind = UnicodeAttribute(default="message")  # message | edit | delete | reaction
    message_id = UnicodeAttribute(attr_name="messageId")
    target_seq = NumberAttribute(attr_name="targetSeq", null=True)  # events: the message's own seq
    sender_id = UnicodeAttribute(attr_name="senderId")
    sender_name = UnicodeAttribute(attr_name="senderName")
    content = UnicodeAttribute(null=True)
    reply_to = UnicodeAttribute(attr_name="replyTo", null=True)
    attachments = JSONAttribute(default=list)
    mentions = ListAttribute(of=UnicodeAttribute, default=list)
    priority = UnicodeAttribute(default="normal")
    created_at = UnicodeAttribute(attr_name="createdAt")
    edited_at = UnicodeAttribute(attr_name="editedAt", null=True)
    deleted = BooleanAttribute(default=False)
    reactions: MapAttribute[str, str] = MapAttribute(default=dict)
    by_message_id = MessagesByMessageId()


class IdempotencyModel(Model):
    """Claims a client frame id of one sender for 24 h, written in the same transaction as its
    effect. `key` is `<frame type>#<chatId>#<senderId>#<frame id>` (parts percent-encoded)."""

    class Meta(_Meta):
        table_name = _table_name("IDEMPOTENCY_TABLE", "tidings-idempotency")

    key = UnicodeAttribute(hash_key=True)
    chat_id = UnicodeAttribute(attr_name="chatId")
    seq = NumberAttribute(null=True)  # the effect's seq; absent for a request that changed nothing
    # SHA-256 of the request's canonical payload: a reuse of the id for another request conflicts.
    fingerprint = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(attr_name="expiresAt")


class EphemeralModel(Model):
    """Short-lived state that must hold across Lambda containers: rate-limit buckets, typing
    state and toast groups. Every item carries a TTL; nothing here is a record anyone needs later."""

    class Meta(_Meta):
        table_name = _table_name("EPHEMERAL_TABLE", "tidings-ephemeral")

    key = UnicodeAttribute(hash_key=True)
    tokens = NumberAttribute(null=True)
    updated_at = NumberAttribute(attr_name="updatedAt", null=True)  # epoch seconds, fractional
    # Toast groups: the toast id a (user, chat) group shares, and how many messages it holds.
    group_id = UnicodeAttribute(attr_name="groupId", null=True)
    group_count = NumberAttribute(attr_name="groupCount", null=True)
    expires_at = TTLAttribute(attr_name="expiresAt")


# --- audit ----------------------------------------------------------------------------------


class AuditModel(Model):
    """Actions kept for abuse review (seed §3.7): each urgent message, written in the same
    transaction as the message, so one never exists without the other. Kept for a year."""

    class Meta(_Meta):
        table_name = _table_name("AUDIT_TABLE", "tidings-audit")

    actor_id = UnicodeAttribute(hash_key=True, attr_name="actorId")
    at = UnicodeAttribute(range_key=True)  # "<ISO time>#<messageId>": newest last, unique
    action = UnicodeAttribute()  # "message.urgent"
    chat_id = UnicodeAttribute(attr_name="chatId")
    message_id = UnicodeAttribute(attr_name="messageId")
    seq = NumberAttribute()
    expires_at = TTLAttribute(attr_name="expiresAt")


# --- sessions -----------------------------------------------------------------------------


class RefreshTokensByUser(GlobalSecondaryIndex["RefreshTokenModel"]):
    """A user's refresh tokens, to invalidate them all on revoke (or a family on reuse)."""

    class Meta:
        index_name = "byUser"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    issued_at = NumberAttribute(range_key=True, attr_name="issuedAt")


class RefreshTokenModel(Model):
    """A refresh token, stored only as its SHA-256. Rotated on every use: the used one is kept,
    marked `rotatedAt`, until its TTL so that a reuse is recognised as one (and its family,
    every token descended from the same sign-in, is invalidated)."""

    class Meta(_Meta):
        table_name = _table_name("REFRESH_TOKENS_TABLE", "tidings-refresh-tokens")

    token_hash = UnicodeAttribute(hash_key=True, attr_name="tokenHash")
    user_id = UnicodeAttribute(attr_name="userId")
    family_id = UnicodeAttribute(attr_name="familyId")
    issued_at = NumberAttribute(attr_name="issuedAt")  # epoch seconds
    rotated_at = NumberAttribute(attr_name="rotatedAt", null=True)
    # The token this one was rotated into: a reuse walks the chain to invalidate every
    # descendant, without waiting for the byUser index to list the newest.
    rotated_to = UnicodeAttribute(attr_name="rotatedTo", null=True)
    expires_at = TTLAttribute(attr_name="expiresAt")  # issued + 7 days
    by_user = RefreshTokensByUser()


# --- push subscriptions -------------------------------------------------------------------


class PushSubscriptionsById(GlobalSecondaryIndex["PushSubscriptionModel"]):
    """Who else holds a subscription: a device that signs in as another user re-registers the
    same endpoint or token, and the previous user must stop receiving pushes on it."""

    class Meta:
        index_name = "bySubscription"
        projection = KeysOnlyProjection()

    subscription_id = UnicodeAttribute(hash_key=True, attr_name="subscriptionId")


class PushSubscriptionModel(Model):
    """A device that receives pushes for a user (seed §3.5): a Web Push subscription or an
    FCM/APNs device token. The push worker reads a user's subscriptions with one Query."""

    class Meta(_Meta):
        table_name = _table_name("PUSH_SUBSCRIPTIONS_TABLE", "tidings-push-subscriptions")

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


# --- presence -----------------------------------------------------------------------------


class PresenceModel(Model):
    """A user's presence (PROTOCOL.md §8), one item per user who ever connected.

    `status` is what subscribers see; the stream (NEW_AND_OLD_IMAGES) carries its changes to
    the presence fan-out. Every other attribute is the state machine's input (domain/presence.py).
    Written with optimistic concurrency on `version`: read, compute, write if unchanged."""

    class Meta(_Meta):
        table_name = _table_name("PRESENCE_TABLE", "tidings-presence")

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


class PresenceSubscriptionModel(Model):
    """`subscriberId` wants `userId`'s presence changes, until `expiresAt` (10 minutes, renewed
    by subscribing again). Partitioned by the watched user, so the subscribers of a changed user
    are one Query. TTL deletion is lazy: readers also drop items whose `expiresAt` has passed."""

    class Meta(_Meta):
        table_name = _table_name("PRESENCE_SUBSCRIPTIONS_TABLE", "tidings-presence-subscriptions")

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    subscriber_id = UnicodeAttribute(range_key=True, attr_name="subscriberId")
    expires_at = TTLAttribute(attr_name="expiresAt")
    by_subscriber = PresenceSubscribersIndex()
