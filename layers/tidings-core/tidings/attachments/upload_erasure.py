"""A user's uploads as their erasure deletes them (docs/protocol.md, "Erasing a user"): the
files and items of the uploads no message holds. Their sent messages' attachments go with those
messages, through the delete path, before this runs. The admin feature reaches this through its
own port (`admin.erasure.Uploads`), composed by the erasure worker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tidings.attachments.attachment import Attachment, upload_key
from tidings.attachments.models import DELETED
from tidings.kernel.paging import Cursor


class UploaderRecords(Protocol):
    def get(self, attachment_id: str) -> Attachment | None: ...

    def uploaded_by(self, user_id: str, cursor: Cursor | None, limit: int) -> tuple[list[str], Cursor | None]: ...

    def delete_unsent(self, attachment_id: str) -> bool: ...


class Files(Protocol):
    def delete(self, key: str) -> None: ...


@dataclass(frozen=True)
class UploadErasure:
    records: UploaderRecords
    objects: Files

    def uploaded_by(self, user_id: str, cursor: Cursor | None, limit: int) -> tuple[list[str], Cursor | None]:
        return self.records.uploaded_by(user_id, cursor, limit)

    def erase_unsent(self, attachment_id: str) -> bool:
        """The file, then the item, of an upload no message holds; False when there was nothing
        to do (gone already, or sent with a message that is not deleted). The file goes first:
        a job redelivered after a failure finds the item and deletes both again (idempotent)."""
        attachment = self.records.get(attachment_id)
        if attachment is None or (attachment.message_id is not None and attachment.status != DELETED):
            return False
        self.objects.delete(upload_key(attachment_id))
        return self.records.delete_unsent(attachment_id)
