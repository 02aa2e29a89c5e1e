"""Attachments as `message.send` takes them (docs/protocol.md, "Attachments"): the sender's clean
uploads to the chat, each sent once, and deleted with their message. Messaging reaches this through its own ports
(`messaging.sending.MessageAttachments`, `messaging.message_store.AttachmentMarks`), composed by
the handler, so neither feature imports the other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pynamodb.transactions import TransactWrite

from tidings.attachments.attachment import Attachment, upload_key
from tidings.attachments.models import INFECTED, PENDING
from tidings.kernel.errors import Conflict, Forbidden, NotFound
from tidings.kernel.observability import logger, metrics


class SendRecords(Protocol):
    def get(self, attachment_id: str) -> Attachment | None: ...

    def mark_sent(
        self, transaction: TransactWrite, attachment_ids: Sequence[str], message_id: str, sender_id: str, chat_id: str
    ) -> None: ...

    def mark_deleted(self, transaction: TransactWrite, attachment_ids: Sequence[str]) -> None: ...

    def delete(self, attachment_id: str) -> None: ...


class SentFiles(Protocol):
    def untag(self, key: str) -> None: ...

    def delete(self, key: str) -> None: ...


@dataclass(frozen=True)
class SentAttachments:
    records: SendRecords
    objects: SentFiles

    def for_message(self, sender_id: str, chat_id: str, attachment_ids: Sequence[str]) -> list[dict[str, Any]]:
        attachments = []
        for position, attachment_id in enumerate(attachment_ids):
            field = f"payload.attachments.{position}.attachmentId"
            attachment = self.records.get(attachment_id)
            # Someone else's upload is as unknown as one that does not exist.
            if attachment is None or attachment.uploader_id != sender_id:
                raise NotFound(f"{field}: no upload {attachment_id!r} of yours")
            if attachment.chat_id != chat_id:
                raise Forbidden(f"{field}: attachment {attachment_id!r} was uploaded to another chat")
            if attachment.status == PENDING:
                raise Conflict(f"{field}: attachment {attachment_id!r} is not uploaded or not scanned yet")
            if attachment.status == INFECTED:
                raise Conflict(f"{field}: attachment {attachment_id!r} was found infected and cannot be sent")
            attachments.append(attachment.to_wire())
        return attachments

    def keep(self, attachments: Sequence[dict[str, Any]]) -> None:
        for attachment in attachments:
            self.objects.untag(upload_key(str(attachment["attachmentId"])))

    def mark_sent(
        self, transaction: TransactWrite, attachment_ids: Sequence[str], message_id: str, sender_id: str, chat_id: str
    ) -> None:
        self.records.mark_sent(transaction, attachment_ids, message_id, sender_id, chat_id)

    def mark_deleted(self, transaction: TransactWrite, attachment_ids: Sequence[str]) -> None:
        self.records.mark_deleted(transaction, attachment_ids)

    def discard(self, attachment_ids: Sequence[str]) -> None:
        """The files, then the items; best effort after the delete committed: an item left
        behind is `deleted` (never fetched), and the failure is logged and counted."""
        for attachment_id in attachment_ids:
            try:
                self.objects.delete(upload_key(attachment_id))
                self.records.delete(attachment_id)
            except Exception:
                logger.exception(
                    "a deleted message's attachment was not deleted", extra={"attachmentId": attachment_id}
                )
                metrics.add_metric(name="AttachmentDeletesFailed", unit="Count", value=1)
