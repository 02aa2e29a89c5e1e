"""The directory's tables: users, chats and their members.

Other features keep their own attributes on these items (badges and read watermarks on the
member item, badge totals, preferences and revocations on the user item, the seq counter on the
chat item) and write them through these models."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection

from tidings.kernel.declaration import Table, TableMeta
from tidings.kernel.table_model import TableModel


class UserModel(TableModel):
    class Meta(TableMeta):
        table_name = "tidings-users"

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    display_name = UnicodeAttribute(attr_name="displayName")
    # `POST /api/auth/revoke`: tokens and refresh tokens issued at or before this (epoch
    # seconds) are refused.
    revoked_before = NumberAttribute(attr_name="revokedBefore", null=True)
    # Badge totals over all the user's chats, kept by atomic ADDs beside the per-chat counts.
    total_unread = NumberAttribute(attr_name="totalUnread", default=0)
    total_mentions = NumberAttribute(attr_name="totalMentions", default=0)
    # `PUT /api/prefs`, as validated JSON; absent means the defaults.
    notification_prefs = JSONAttribute(attr_name="notificationPrefs", null=True)
    # The profile the platform provisions (`PUT /admin/users/{userId}`); avatarUrl is https only.
    email = UnicodeAttribute(null=True)
    avatar_url = UnicodeAttribute(attr_name="avatarUrl", null=True)
    # `DELETE /admin/users/{userId}`: "erasing" while the erasure runs, then "erased" (the item a
    # tombstone: the id, the revocation, when). Every token of such a user is refused.
    erasure = UnicodeAttribute(null=True)
    erasure_at = NumberAttribute(attr_name="erasureAt", null=True)  # epoch s: when it started, then ended


# The longest `retentionDays` (a hundred years); to keep messages forever, set none.
MAX_RETENTION_DAYS = 36_500


class ChatsByType(GlobalSecondaryIndex["ChatModel"]):
    """Every chat, by type, without a Scan: `tidings reindex` walks it (a handful of
    partitions, read only by that batch job). Keys only, so `headSeq` updates never touch it."""

    class Meta:
        index_name = "byType"
        projection = KeysOnlyProjection()

    chat_type = UnicodeAttribute(hash_key=True, attr_name="type")
    chat_id = UnicodeAttribute(range_key=True, attr_name="chatId")


class ChatModel(TableModel):
    """A chat's metadata and its seq counter (`headSeq`), which is advanced atomically."""

    class Meta(TableMeta):
        table_name = "tidings-chats"

    chat_id = UnicodeAttribute(hash_key=True, attr_name="chatId")
    name = UnicodeAttribute(null=True)
    chat_type = UnicodeAttribute(attr_name="type")  # dm | group | channel
    head_seq = NumberAttribute(attr_name="headSeq", default=0)
    created_at = UnicodeAttribute(attr_name="createdAt")
    description = UnicodeAttribute(null=True)
    # public | private; absent on chats written before it existed: a channel is then public.
    visibility = UnicodeAttribute(null=True)
    # An archived chat keeps its history and refuses new messages.
    archived = BooleanAttribute(default=False)
    # Days a message is kept (the retention sweep, `tidings.messaging.retention`); absent: the
    # deployment's default applies.
    retention_days = NumberAttribute(attr_name="retentionDays", null=True)
    # The retention sweep's progress: every item up to this seq has been looked at.
    retention_swept_seq = NumberAttribute(attr_name="retentionSweptSeq", null=True)
    by_type = ChatsByType()


class DmPairModel(TableModel):
    """The DM of a pair of users, an item of the Chats table keyed `dm-pair#<userId>#<userId>`
    (the two ids sorted; `#` is in no chat id, so the key never names a chat, and it has no
    `type`, so `byType` never lists it). Its conditional put, in the transaction that creates
    the DM, is what makes a pair's DM one chat however many open it at once."""

    class Meta(ChatModel.Meta):
        """The Chats table's: inherited, not copied, so the name and region a function's
        environment binds on `ChatModel.Meta` are this model's too."""

    pair_key = UnicodeAttribute(hash_key=True, attr_name="chatId")
    dm_chat_id = UnicodeAttribute(attr_name="dmChatId")


def dm_pair_key(user_id: str, other_id: str) -> str:
    first, second = sorted((user_id, other_id))
    return f"dm-pair#{first}#{second}"


class MembershipsByUser(GlobalSecondaryIndex["MemberModel"]):
    """A user's chats, for the chat list and multi-chat sync."""

    class Meta:
        index_name = "byUser"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    chat_id = UnicodeAttribute(range_key=True, attr_name="chatId")


class MemberModel(TableModel):
    """Membership, partitioned by chat so a chat's members are one Query."""

    class Meta(TableMeta):
        table_name = "tidings-members"

    chat_id = UnicodeAttribute(hash_key=True, attr_name="chatId")
    user_id = UnicodeAttribute(range_key=True, attr_name="userId")
    role = UnicodeAttribute(default="member")  # member | admin
    joined_at = UnicodeAttribute(attr_name="joinedAt")
    # The read watermark: only ever moves forward.
    last_read_seq = NumberAttribute(attr_name="lastReadSeq", default=0)
    last_read_message_id = UnicodeAttribute(attr_name="lastReadMessageId", null=True)
    # What moved the watermark last: "mark" (read.mark) or "send" (the member's own message,
    # which moves it in the send's transaction). The receipts consumer sends no read.receipt for
    # a "send": the message.new already tells the others.
    last_read_by = UnicodeAttribute(attr_name="lastReadBy", null=True)
    # Badges: changed only by atomic ADDs, or reset by a recount from the watermark.
    unread_count = NumberAttribute(attr_name="unreadCount", default=0)
    mention_count = NumberAttribute(attr_name="mentionCount", default=0)
    by_user = MembershipsByUser()


# --- the tables --------------------------------------------------------------------------------

USERS = Table("Users", UserModel)
CHATS = Table("Chats", ChatModel)
# The Members stream carries read watermark moves to the receipts consumer.
MEMBERS = Table("Members", MemberModel, stream="NEW_AND_OLD_IMAGES")
