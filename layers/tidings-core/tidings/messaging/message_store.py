"""DynamoDB implementation of the message store: the chat event log, the idempotency claims in
the same transactions, the chat's seq counter and the members' read watermarks."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Protocol, cast

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path
from pynamodb.transactions import TransactWrite

from tidings.chats.directory import DynamoMemberDirectory
from tidings.chats.models import ChatModel, MemberModel
from tidings.kernel.errors import Conflict, Forbidden, NotFound, Unavailable
from tidings.kernel.paging import Cursor
from tidings.messaging.chat_events import ChatEvent, MessageGone, NoChange, ReactionAction
from tidings.messaging.idempotency import Claim, DuplicateRequest, HeldClaim
from tidings.messaging.message import Message
from tidings.messaging.models import AuditModel, IdempotencyModel, MessageModel
from tidings.messaging.records import message_from_model, reaction_key

AUDIT_RETENTION = timedelta(days=365)


def message_item(message: Message) -> MessageModel:
    """The message's item in the Messages table (the chat's event log)."""
    return MessageModel(
        chat_id=message.chat_id,
        seq=message.seq,
        kind="message",
        message_id=message.message_id,
        sender_id=message.sender_id,
        sender_name=message.sender_name,
        content=message.content,
        reply_to=message.reply_to,
        attachments=message.attachments,
        mentions=message.mentions,
        priority=message.priority,
        created_at=message.created_at,
        edited_at=message.edited_at,
        deleted=message.deleted,
        reactions=message.reactions,
        trace_id=message.trace_id,
    )


def _urgent_audit(message: Message) -> AuditModel:
    return AuditModel(
        message.sender_id,
        f"{message.created_at}#{message.message_id}",
        action="message.urgent",
        chat_id=message.chat_id,
        message_id=message.message_id,
        seq=message.seq,
        expires_at=datetime.now(UTC) + AUDIT_RETENTION,
    )


class AttachmentMarks(Protocol):
    """The attachments feature's part of a message's transaction: each attachment marked sent
    with the message, on condition that it still may be (the sender's clean upload to the chat,
    not sent yet). Adds one update per attachment, in order."""

    def mark_sent(
        self, transaction: TransactWrite, attachment_ids: Sequence[str], message_id: str, sender_id: str, chat_id: str
    ) -> None: ...

    def mark_deleted(self, transaction: TransactWrite, attachment_ids: Sequence[str]) -> None:
        """In the delete's transaction: the attachments are never fetched again."""

    def discard(self, attachment_ids: Sequence[str]) -> None:
        """After the delete committed: the files and the items go."""


class DynamoMessageStore:
    """Messages and chat events, with the chat's seq counter (`headSeq` on the chat item) and the
    members' read watermarks (on the member item). Membership is read through the directory;
    attachments are marked sent through `attachments`, in the message's own transaction."""

    def __init__(self, attachments: AttachmentMarks | None = None) -> None:
        self._members = DynamoMemberDirectory()
        self._attachments = attachments

    def members_among(self, chat_id: str, user_ids: set[str]) -> set[str]:
        return self._members.members_among(chat_id, user_ids)

    def allocate_seq(self, chat_id: str, *, new_message: bool = False) -> int:
        """The chat's next seq: one atomic ADD on the chat item, so concurrent senders never
        share a seq and a failed write leaves only a hole. For a `new_message` the chat must
        not be archived, checked by the same update's condition (an archive that commits first
        refuses the message; one that commits after finds it stored)."""
        chat = ChatModel(chat_id)
        condition = ChatModel.chat_id.exists()
        if new_message:
            condition &= ChatModel.archived.does_not_exist() | (ChatModel.archived == False)  # noqa: E712
        try:
            chat.update(actions=[ChatModel.head_seq.add(1)], condition=condition)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                if new_message and ChatModel.count(chat_id, consistent_read=True):
                    raise Forbidden(
                        f"Chat {chat_id!r} is archived: it keeps its history but takes no new messages"
                    ) from exc
                raise NotFound(f"Chat {chat_id!r} does not exist") from exc
            raise
        return int(chat.head_seq)

    def append(self, message: Message, claim: Claim) -> None:
        """One transaction: the claim, the message, its audit item when urgent, and the sender's
        read watermark moved to the message (a sender has seen their own message).

        The watermark only moves forward, so its update is conditional; when it is already
        further (the sender marked a later message read that committed first), that condition
        cancels the transaction and the message is written again without it."""

        attachment_ids = [str(attachment["attachmentId"]) for attachment in message.attachments]
        if attachment_ids and self._attachments is None:
            raise Unavailable("Attachments are not available on this deployment")
        puts = 2 if message.priority == "urgent" else 1

        def operations(with_watermark: bool) -> Callable[[TransactWrite], None]:
            def write(transaction: TransactWrite) -> None:
                transaction.save(message_item(message), condition=MessageModel.seq.does_not_exist())
                if message.priority == "urgent":
                    transaction.save(_urgent_audit(message))
                if attachment_ids and self._attachments is not None:
                    self._attachments.mark_sent(
                        transaction, attachment_ids, message.message_id, message.sender_id, message.chat_id
                    )
                if with_watermark:
                    # PynamoDB sends puts before updates: this is the transaction's last item.
                    actions, condition = _watermark_move(message.seq, message.message_id, by="send")
                    transaction.update(MemberModel(message.chat_id, message.sender_id), actions, condition)

            return write

        def refuse_attachments(refused: _OperationRefused) -> None:
            for index in refused.failed:
                if puts <= index < puts + len(attachment_ids):
                    raise Conflict(
                        f"payload.attachments.{index - puts}.attachmentId: attachment "
                        f"{attachment_ids[index - puts]!r} was sent with another message"
                    ) from refused

        try:
            _transact(claim, message.chat_id, message.seq, operations(with_watermark=True))
        except _OperationRefused as refused:
            refuse_attachments(refused)
            if refused.failed != [len(refused.reasons) - 1]:
                raise  # the message's own condition: its seq is taken, which allocation rules out
            try:
                _transact(claim, message.chat_id, message.seq, operations(with_watermark=False))
            except _OperationRefused as again:
                refuse_attachments(again)
                raise

    def locate(self, message_id: str) -> tuple[str, int] | None:
        """The message's chat and seq. Its events share the messageId; the message came first."""
        items = list(MessageModel.by_message_id.query(message_id))
        if not items:
            return None
        first = min(items, key=lambda item: item.seq)
        return first.chat_id, int(first.seq)

    def role_of(self, chat_id: str, user_id: str) -> str | None:
        return self._members.role_of(chat_id, user_id)

    def advance_read_watermark(self, chat_id: str, user_id: str, seq: int, message_id: str) -> bool:
        actions, condition = _watermark_move(seq, message_id, by="mark")
        try:
            MemberModel(chat_id, user_id).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def record_edit(self, event: ChatEvent, content: str, mentions: list[str], claim: Claim) -> None:
        self._record(
            event,
            claim,
            actions=[
                MessageModel.content.set(content),
                MessageModel.mentions.set(cast(Any, mentions)),  # the stubs expect attribute objects
                MessageModel.edited_at.set(event.at),
            ],
        )

    def record_delete(self, event: ChatEvent, claim: Claim, *, sender_name: str | None = None) -> None:
        """The content goes from storage for good; the item stays so the seq keeps its meaning.
        Its attachments are refused from the delete's own transaction on, and their files and
        items are deleted once it committed (docs/architecture.md, "Attachments")."""
        attachment_ids = self._attachment_ids(event.chat_id, event.target_seq)
        actions = [
            MessageModel.content.remove(),
            MessageModel.attachments.set([]),
            MessageModel.mentions.set([]),
            MessageModel.reactions.set({}),
            MessageModel.deleted.set(True),
        ]
        if sender_name is not None:  # an erasure: the tombstone no longer names its sender
            actions.append(MessageModel.sender_name.set(sender_name))
        also = None
        if attachment_ids and self._attachments is not None:
            marks = self._attachments
            also = lambda transaction: marks.mark_deleted(transaction, attachment_ids)  # noqa: E731
        self._record(event, claim, actions=actions, also=also)
        if attachment_ids and self._attachments is not None:
            self._attachments.discard(attachment_ids)

    def _attachment_ids(self, chat_id: str, seq: int | None) -> list[str]:
        """The ids of the message's uploads (a message stored before uploads has none)."""
        if self._attachments is None or seq is None:
            return []
        try:
            item = MessageModel.get(chat_id, seq, consistent_read=True, attributes_to_get=["attachments"])
        except DoesNotExist:
            return []
        return [str(a["attachmentId"]) for a in item.attachments or [] if isinstance(a, dict) and a.get("attachmentId")]

    def record_reaction(self, event: ChatEvent, emoji: str, action: ReactionAction, claim: Claim) -> None:
        # A raw map's item is an expression path (PynamoDB's stubs type it as the value).
        entry = cast(Path, MessageModel.reactions[reaction_key(emoji, event.actor_id)])
        precondition: Condition
        if action == "add":
            change, precondition = entry.set(event.at), entry.does_not_exist()
        else:
            change, precondition = entry.remove(), entry.exists()
        try:
            self._record(event, claim, actions=[change], precondition=precondition)
        except MessageGone:
            current = self.get(event.chat_id, event.target_seq)
            if current is not None and not current.deleted:
                raise NoChange() from None
            raise

    def record_no_change(self, claim: Claim, chat_id: str) -> None:
        """The claim alone, with no seq: one conditional put (nothing else to write with it)."""
        try:
            _claim_item(claim, chat_id, seq=None).save(condition=_claim_is_free())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise _duplicate(claim.key) from exc
            raise

    def held_claim(self, key: str) -> HeldClaim | None:
        try:
            item = IdempotencyModel.get(key, consistent_read=True)
        except DoesNotExist:
            return None
        if item.expires_at < datetime.now(UTC):
            return None  # past its TTL, waiting for DynamoDB to delete it: it no longer counts
        return HeldClaim(item.chat_id, None if item.seq is None else int(item.seq), item.fingerprint)

    def _record(
        self,
        event: ChatEvent,
        claim: Claim,
        actions: list[Any],
        precondition: Any = None,
        also: Callable[[TransactWrite], None] | None = None,
    ) -> None:
        """One transaction: the claim, the change to the message, the event item (and `also`'s
        updates, after the message's: a refusal is still the message's own condition's)."""
        still_there = MessageModel.seq.exists() & (MessageModel.deleted == False)  # noqa: E712
        condition = still_there if precondition is None else still_there & precondition
        event_item = MessageModel(
            event.chat_id,
            event.seq,
            kind=event.kind,
            message_id=event.message_id,
            target_seq=event.target_seq,
            sender_id=event.actor_id,
            sender_name=event.actor_name,
            created_at=event.at,
            trace_id=event.trace_id,
        )

        def operations(transaction: TransactWrite) -> None:
            transaction.update(MessageModel(event.chat_id, event.target_seq), actions=actions, condition=condition)
            transaction.save(event_item, condition=MessageModel.seq.does_not_exist())
            if also is not None:
                also(transaction)

        try:
            _transact(claim, event.chat_id, event.seq, operations)
        except _OperationRefused as refused:
            raise MessageGone() from refused

    def get(self, chat_id: str, seq: int) -> Message | None:
        try:
            return message_from_model(MessageModel.get(chat_id, seq, consistent_read=True))
        except DoesNotExist:
            return None

    def messages_before(self, chat_id: str, before: int | None, limit: int) -> tuple[list[Message], bool]:
        """One Query, newest first, keeping `message` items only (edit, delete and reaction
        events hold no content; their effect is already on the message item). Reads one more
        message than asked to know whether there are older ones."""
        condition = MessageModel.seq < before if before is not None else None
        items = list(
            MessageModel.query(
                chat_id,
                condition,
                filter_condition=MessageModel.kind == "message",
                consistent_read=True,
                scan_index_forward=False,
                limit=limit + 1,
                page_size=limit + 1 + limit // 4,  # some room for the events between messages
            )
        )
        return [message_from_model(item) for item in items[:limit]], len(items) > limit

    def sent_by(self, user_id: str, cursor: Cursor | None, limit: int) -> tuple[list[Message], Cursor | None]:
        """A page of the messages the user sent (for their erasure), oldest first."""
        items, next_cursor = _authored_page(user_id, cursor, limit)
        return [message_from_model(item) for item in items if item.kind == "message"], next_cursor

    def reacted_by(
        self, user_id: str, cursor: Cursor | None, limit: int
    ) -> tuple[list[tuple[str, int]], Cursor | None]:
        """A page of the messages the user reacted to, `(chatId, seq)` each, named by their
        reaction events (for their erasure)."""
        items, next_cursor = _authored_page(user_id, cursor, limit, ["chatId", "seq", "kind", "targetSeq"])
        targets = {(i.chat_id, int(i.target_seq)) for i in items if i.kind == "reaction" and i.target_seq is not None}
        return sorted(targets), next_cursor

    def messages_of(self, chat_id: str) -> Iterator[Message]:
        """The chat's messages (not its other events), oldest first: for the search rebuild."""
        for item in MessageModel.query(chat_id, filter_condition=MessageModel.kind == "message"):
            yield message_from_model(item)


class _OperationRefused(Exception):
    """A condition on one of the transaction's own operations (not the claim) failed.
    `reasons` are the operations' cancellation codes in transaction order, claim excluded."""

    def __init__(self, reasons: list[str | None]) -> None:
        super().__init__(f"transaction refused: {reasons}")
        self.reasons = reasons
        self.failed = [index for index, code in enumerate(reasons) if code == "ConditionalCheckFailed"]


def _authored_page(
    user_id: str, cursor: Cursor | None, limit: int, attributes: list[str] | None = None
) -> tuple[list[MessageModel], Cursor | None]:
    """A page of the items the user is the sender of (messages and their own events), oldest
    first, and the cursor after it: one Query of the keys-only sender index, one BatchGetItem."""
    page = MessageModel.by_sender.query(user_id, limit=limit, last_evaluated_key=cursor)
    keys = [(item.chat_id, int(item.seq)) for item in page]
    found = (
        {(i.chat_id, int(i.seq)): i for i in MessageModel.batch_get(keys, attributes_to_get=attributes)} if keys else {}
    )
    return [found[key] for key in keys if key in found], page.last_evaluated_key


def _watermark_move(seq: int, message_id: str, by: str) -> tuple[list[Any], Condition]:
    """The update that moves a member's read watermark to `seq`, forward only, members only."""
    actions = [
        MemberModel.last_read_seq.set(seq),
        MemberModel.last_read_message_id.set(message_id),
        MemberModel.last_read_by.set(by),
    ]
    condition = MemberModel.user_id.exists() & (
        MemberModel.last_read_seq.does_not_exist() | (MemberModel.last_read_seq < seq)
    )
    return actions, condition


def _claim_item(claim: Claim, chat_id: str, seq: int | None) -> IdempotencyModel:
    return IdempotencyModel(
        claim.key,
        chat_id=chat_id,
        seq=seq,
        fingerprint=claim.fingerprint,
        expires_at=datetime.fromtimestamp(claim.expires_at, UTC),
    )


def _claim_is_free() -> Condition:
    # A claim past its TTL may linger until DynamoDB deletes it; it no longer counts.
    return IdempotencyModel.key.does_not_exist() | (IdempotencyModel.expires_at < datetime.now(UTC))


def _duplicate(key: str) -> DuplicateRequest:
    held = DynamoMessageStore().held_claim(key)
    if held is None:  # it expired between the refused write and this read: retrying will do
        raise Unavailable("The request could not be completed; retry it with the same frame id")
    return DuplicateRequest(held)


def _transact(claim: Claim, chat_id: str, seq: int, operations: Callable[[TransactWrite], None]) -> None:
    """Writes `operations` together with the idempotency claim, all or nothing.

    Raises DuplicateRequest when the claim is held (a retry, or a reuse of the frame id),
    _OperationRefused when an operation's own condition failed."""
    try:
        with TransactWrite(connection=_connection()) as transaction:
            # The claim is the first put and the transaction has no condition checks or deletes
            # (PynamoDB sends those first): its cancellation reason is the first one.
            transaction.save(_claim_item(claim, chat_id, seq), condition=_claim_is_free())
            operations(transaction)
    except TransactWriteError as exc:
        reasons = [reason.code if reason else None for reason in (exc.cancellation_reasons or [])]
        if reasons and reasons[0] == "ConditionalCheckFailed":
            raise _duplicate(claim.key) from exc
        if "ConditionalCheckFailed" in reasons[1:]:
            raise _OperationRefused(reasons[1:]) from exc
        raise


@cache
def _connection() -> Connection:
    """One connection (one botocore client) per container: creating a client costs more CPU
    than the transaction it sends."""
    return Connection(region=MessageModel.Meta.region)
