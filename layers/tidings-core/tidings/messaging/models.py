"""Messaging's tables: the chat event log, the idempotency claims and the audit of urgent messages."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from tidings.kernel.declaration import Table, TableMeta
from tidings.kernel.table_model import TableModel

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


class MessagesBySender(GlobalSecondaryIndex["MessageModel"]):
    """What one user wrote (messages, and the edits, deletes and reactions they made), oldest
    first: the administration export reads it without a Scan. Keys only: the export reads the
    items themselves, and edits of `content` never touch the index."""

    class Meta:
        index_name = "bySender"
        projection = KeysOnlyProjection()

    sender_id = UnicodeAttribute(hash_key=True, attr_name="senderId")
    created_at = UnicodeAttribute(range_key=True, attr_name="createdAt")


class MessageModel(TableModel):
    """The chat event log, partitioned by chat with the seq as sort key.

    A `message` item is the message itself at its creation seq, kept current (edits, deletes
    and reactions update it in place). Every later chat event is also an item of its own kind
    (`edit`, `delete`, `reaction`) at its own seq, naming the message (`messageId`, `targetSeq`)
    but holding no content, so sync is one Query (`seq > lastKnownSeq`), the stream carries
    every event in order, and a delete erases the content in one place.
    """

    class Meta(TableMeta):
        table_name = "tidings-messages"

    chat_id = UnicodeAttribute(hash_key=True, attr_name="chatId")
    seq = NumberAttribute(range_key=True)
    # message | edit | delete | reaction, or a membership or chat event (tidings.chats.membership_events)
    kind = UnicodeAttribute(default="message")
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
    # The message's trace id; an event item carries the trace id of the message it is about.
    trace_id = UnicodeAttribute(attr_name="traceId", null=True)
    # Membership and chat events (written by the chats feature): the member the event is about
    # and their role, and the chat's own fields as the event left them.
    subject_id = UnicodeAttribute(attr_name="subjectId", null=True)
    role = UnicodeAttribute(null=True)
    chat = JSONAttribute(null=True)
    by_message_id = MessagesByMessageId()
    by_sender = MessagesBySender()


class IdempotencyModel(TableModel):
    """Claims a client frame id of one sender for 24 h, written in the same transaction as its
    effect. `key` is `<frame type>#<chatId>#<senderId>#<frame id>` (parts percent-encoded)."""

    class Meta(TableMeta):
        table_name = "tidings-idempotency"

    key = UnicodeAttribute(hash_key=True)
    chat_id = UnicodeAttribute(attr_name="chatId")
    seq = NumberAttribute(null=True)  # the effect's seq; absent for a request that changed nothing
    # SHA-256 of the request's canonical payload: a reuse of the id for another request conflicts.
    fingerprint = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(attr_name="expiresAt")


class AuditModel(TableModel):
    """Actions kept for abuse review: each urgent message, written in the same
    transaction as the message, so one never exists without the other. Kept for a year."""

    class Meta(TableMeta):
        table_name = "tidings-audit"

    actor_id = UnicodeAttribute(hash_key=True, attr_name="actorId")
    at = UnicodeAttribute(range_key=True)  # "<ISO time>#<messageId>": newest last, unique
    action = UnicodeAttribute()  # "message.urgent"
    chat_id = UnicodeAttribute(attr_name="chatId")
    message_id = UnicodeAttribute(attr_name="messageId")
    seq = NumberAttribute()
    expires_at = TTLAttribute(attr_name="expiresAt")


# --- the tables --------------------------------------------------------------------------------

# NEW_AND_OLD_IMAGES so the consumers (search, notify) see what an edit or delete replaced.
MESSAGES = Table("Messages", MessageModel, stream="NEW_AND_OLD_IMAGES")
IDEMPOTENCY = Table("Idempotency", IdempotencyModel)
# Urgent messages, for abuse review; each record expires after a year.
AUDIT = Table("Audit", AuditModel)
