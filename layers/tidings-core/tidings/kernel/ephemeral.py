"""The Ephemeral table: short-lived state shared by every Lambda container (rate-limit buckets,
typing state, toast groups, big chats' message rates), each item with a TTL."""

from __future__ import annotations

from pynamodb.attributes import (
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)

from tidings.kernel.declaration import Table, TableMeta
from tidings.kernel.table_model import TableModel


class EphemeralModel(TableModel):
    """Short-lived state that must hold across Lambda containers: rate-limit buckets, typing
    state and toast groups. Every item carries a TTL; nothing here is a record anyone needs later."""

    class Meta(TableMeta):
        table_name = "tidings-ephemeral"

    key = UnicodeAttribute(hash_key=True)
    tokens = NumberAttribute(null=True)
    updated_at = NumberAttribute(attr_name="updatedAt", null=True)  # epoch seconds, fractional
    # Toast groups: the toast id a (user, chat) group shares, and how many messages it holds.
    group_id = UnicodeAttribute(attr_name="groupId", null=True)
    group_count = NumberAttribute(attr_name="groupCount", null=True)
    # Summary mode (messaging): a big chat's messages in one second.
    message_count = NumberAttribute(attr_name="messageCount", null=True)
    expires_at = TTLAttribute(attr_name="expiresAt")


EPHEMERAL = Table("Ephemeral", EphemeralModel)
