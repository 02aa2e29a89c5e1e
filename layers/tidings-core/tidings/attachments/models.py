"""The Attachments table: one item per upload, from the upload URL to its message's delete."""

from __future__ import annotations

from typing import Final

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from tidings.kernel.declaration import Table, TableMeta
from tidings.kernel.table_model import TableModel

# pending: no scan verdict yet (or nothing uploaded); clean: may be sent and fetched; infected:
# the object is deleted, the item stays so that the uploader's client can be told why.
PENDING: Final = "pending"
CLEAN: Final = "clean"
INFECTED: Final = "infected"
# Its message was deleted: the file is being deleted with the item (never fetched again).
DELETED: Final = "deleted"


class AttachmentsByUploader(GlobalSecondaryIndex["AttachmentModel"]):
    """One user's uploads, oldest first: a user's erasure finds the uploads they never sent
    without a Scan. Keys only: the erasure reads each item itself before deleting it."""

    class Meta:
        index_name = "byUploader"
        projection = KeysOnlyProjection()

    uploader_id = UnicodeAttribute(hash_key=True, attr_name="uploaderId")
    created_at = UnicodeAttribute(range_key=True, attr_name="createdAt")


class AttachmentModel(TableModel):
    """An upload: whose, for which chat, what it claims to be, the scan's verdict, and the
    message it was sent with (absent until sent; an attachment is sent at most once)."""

    class Meta(TableMeta):
        table_name = "tidings-attachments"

    attachment_id = UnicodeAttribute(hash_key=True, attr_name="attachmentId")
    chat_id = UnicodeAttribute(attr_name="chatId")
    uploader_id = UnicodeAttribute(attr_name="uploaderId")
    name = UnicodeAttribute()
    size = NumberAttribute()
    content_type = UnicodeAttribute(attr_name="contentType")
    status = UnicodeAttribute(default=PENDING)
    object_key = UnicodeAttribute(attr_name="objectKey")
    created_at = UnicodeAttribute(attr_name="createdAt")
    message_id = UnicodeAttribute(attr_name="messageId", null=True)

    by_uploader = AttachmentsByUploader()


ATTACHMENTS = Table("Attachments", AttachmentModel)
