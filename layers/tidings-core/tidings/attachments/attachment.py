"""An attachment as the feature's logic sees it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tidings.attachments.declaration import UPLOAD_PREFIX
from tidings.attachments.models import CLEAN


def upload_key(attachment_id: str) -> str:
    """Where an attachment's file is uploaded to, and stays."""
    return f"{UPLOAD_PREFIX}{attachment_id}"


@dataclass(frozen=True)
class Attachment:
    attachment_id: str
    chat_id: str
    uploader_id: str
    name: str
    size: int
    content_type: str
    status: str
    object_key: str
    created_at: str
    message_id: str | None = None

    @property
    def is_clean(self) -> bool:
        return self.status == CLEAN

    def to_wire(self) -> dict[str, Any]:
        """The attachment as messages carry it (docs/protocol.md, "Attachments")."""
        return {
            "attachmentId": self.attachment_id,
            "name": self.name,
            "size": self.size,
            "contentType": self.content_type,
            "status": self.status,
        }
