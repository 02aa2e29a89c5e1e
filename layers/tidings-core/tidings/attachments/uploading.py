"""Upload forms and downloads (docs/protocol.md, "Attachments"): who may upload to a chat, who may
fetch a file, and the presigned URLs that let them, free of AWS event shapes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import Protocol

from tidings.attachments.attachment import Attachment, upload_key
from tidings.attachments.declaration import UNSENT_TAG, UPLOADS
from tidings.attachments.models import DELETED, INFECTED, PENDING
from tidings.attachments.wire import UploadForm, UploadRequest, UploadTicket
from tidings.kernel.errors import BadFrame, Conflict, Forbidden, NotFound
from tidings.kernel.ratelimits import RateLimiter
from tidings.kernel.wire import iso

# An upload form is good for 15 minutes (time to pick and send a large file on a slow link);
# a download URL for 5: it is fetched at once, and a leaked one stops working soon.
UPLOAD_FORM_SECONDS = 15 * 60
DOWNLOAD_URL_SECONDS = 5 * 60


class Members(Protocol):
    def is_member(self, chat_id: str, user_id: str) -> bool: ...


class AttachmentRecords(Protocol):
    def create(self, attachment: Attachment) -> None: ...

    def get(self, attachment_id: str) -> Attachment | None: ...


class PresignedObjects(Protocol):
    def upload_form(
        self, key: str, content_type: str, size: int, expires_in: int, tag: tuple[str, str]
    ) -> tuple[str, dict[str, str]]: ...

    def download_url(self, key: str, file_name: str, content_type: str, expires_in: int) -> str: ...


@dataclass(frozen=True)
class AttachmentService:
    records: AttachmentRecords
    objects: PresignedObjects
    members: Members
    limiter: RateLimiter
    _: KW_ONLY
    max_bytes: int
    now: Callable[[], float]
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())

    def request_upload(self, user_id: str, chat_id: str, request: UploadRequest) -> UploadTicket:
        """A new pending attachment and the form to upload its file with. Members only; the
        form accepts exactly the declared size and content type, at one key."""
        if request.size > self.max_bytes:
            raise BadFrame(f"size: must be at most {self.max_bytes} bytes")
        if not self.members.is_member(chat_id, user_id):
            raise Forbidden(f"You are not a member of chat {chat_id!r}")
        self.limiter.enforce(UPLOADS, user_id)
        now = self.now()
        attachment_id = self.new_id()
        key = upload_key(attachment_id)
        url, fields = self.objects.upload_form(key, request.contentType, request.size, UPLOAD_FORM_SECONDS, UNSENT_TAG)
        self.records.create(
            Attachment(
                attachment_id=attachment_id,
                chat_id=chat_id,
                uploader_id=user_id,
                name=request.name,
                size=request.size,
                content_type=request.contentType,
                status=PENDING,
                object_key=key,
                created_at=iso(now),
            )
        )
        return UploadTicket(
            attachmentId=attachment_id,
            upload=UploadForm(url=url, fields=fields),
            expiresAt=iso(now + UPLOAD_FORM_SECONDS),
        )

    def download_url(self, user_id: str, attachment_id: str) -> str:
        """A presigned GET of the file, for a member of its chat. Until it is sent, only its
        uploader sees it; a file being scanned is a CONFLICT (ask again), an infected one is
        gone (NOT_FOUND)."""
        attachment = self.records.get(attachment_id)
        if attachment is None:
            raise NotFound(f"No attachment {attachment_id!r}")
        if not self.members.is_member(attachment.chat_id, user_id):
            raise Forbidden(f"You are not a member of the chat of attachment {attachment_id!r}")
        if attachment.message_id is None and attachment.uploader_id != user_id:
            raise NotFound(f"No attachment {attachment_id!r}")
        if attachment.status == PENDING:
            raise Conflict(f"Attachment {attachment_id!r} is not uploaded or not scanned yet; ask again")
        if attachment.status == INFECTED:
            raise NotFound(f"Attachment {attachment_id!r} was found infected and deleted")
        if attachment.status == DELETED:
            raise NotFound(f"Attachment {attachment_id!r} was deleted with its message")
        return self.objects.download_url(
            attachment.object_key, attachment.name, attachment.content_type, DOWNLOAD_URL_SECONDS
        )
