"""The Attachments table's adapter."""

from __future__ import annotations

from collections.abc import Sequence

from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError
from pynamodb.transactions import TransactWrite

from tidings.attachments.attachment import Attachment
from tidings.attachments.models import CLEAN, DELETED, PENDING, AttachmentModel
from tidings.kernel.paging import Cursor


def _attachment(item: AttachmentModel) -> Attachment:
    return Attachment(
        attachment_id=item.attachment_id,
        chat_id=item.chat_id,
        uploader_id=item.uploader_id,
        name=item.name,
        size=int(item.size),
        content_type=item.content_type,
        status=item.status,
        object_key=item.object_key,
        created_at=item.created_at,
        message_id=item.message_id,
    )


class DynamoAttachmentStore:
    def create(self, attachment: Attachment) -> None:
        """A new upload's item; its id is new, so the put is conditional only against a clash."""
        AttachmentModel(
            attachment.attachment_id,
            chat_id=attachment.chat_id,
            uploader_id=attachment.uploader_id,
            name=attachment.name,
            size=attachment.size,
            content_type=attachment.content_type,
            status=attachment.status,
            object_key=attachment.object_key,
            created_at=attachment.created_at,
        ).save(condition=AttachmentModel.attachment_id.does_not_exist())

    def get(self, attachment_id: str) -> Attachment | None:
        try:
            return _attachment(AttachmentModel.get(attachment_id, consistent_read=True))
        except DoesNotExist:
            return None

    def settle(self, attachment_id: str, status: str) -> bool:
        """Records the scan's verdict on a pending attachment. False when there is no such
        attachment or it has its verdict already (S3 delivers an event at least once)."""
        try:
            AttachmentModel(attachment_id).update(
                actions=[AttachmentModel.status.set(status)],
                condition=AttachmentModel.attachment_id.exists() & (AttachmentModel.status == PENDING),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def mark_sent(
        self, transaction: TransactWrite, attachment_ids: Sequence[str], message_id: str, sender_id: str, chat_id: str
    ) -> None:
        """In the message's transaction: each attachment sent with `message_id`, on condition
        that it is still the sender's clean upload to the chat and was sent with no message."""
        for attachment_id in attachment_ids:
            condition = (
                AttachmentModel.message_id.does_not_exist()
                & (AttachmentModel.status == CLEAN)
                & (AttachmentModel.uploader_id == sender_id)
                & (AttachmentModel.chat_id == chat_id)
            )
            transaction.update(
                AttachmentModel(attachment_id),
                actions=[AttachmentModel.message_id.set(message_id)],
                condition=condition,
            )

    def mark_deleted(self, transaction: TransactWrite, attachment_ids: Sequence[str]) -> None:
        """In the message delete's transaction: each attachment refused from then on."""
        for attachment_id in attachment_ids:
            transaction.update(
                AttachmentModel(attachment_id),
                actions=[AttachmentModel.status.set(DELETED)],
                condition=AttachmentModel.attachment_id.exists(),
            )

    def delete(self, attachment_id: str) -> None:
        AttachmentModel(attachment_id).delete()

    def uploaded_by(self, user_id: str, cursor: Cursor | None, limit: int) -> tuple[list[str], Cursor | None]:
        """A page of the ids of the user's uploads, oldest first (the uploader index), and the
        cursor after it."""
        page = AttachmentModel.by_uploader.query(user_id, limit=limit, last_evaluated_key=cursor)
        return [item.attachment_id for item in page], page.last_evaluated_key

    def delete_unsent(self, attachment_id: str) -> bool:
        """Deletes an upload no message holds: never sent, or left `deleted` by a message delete
        whose clean-up failed. False when it is gone already or a message holds it."""
        unsent = AttachmentModel.message_id.does_not_exist() | (AttachmentModel.status == DELETED)
        try:
            AttachmentModel(attachment_id).delete(condition=AttachmentModel.attachment_id.exists() & unsent)
        except DeleteError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True
