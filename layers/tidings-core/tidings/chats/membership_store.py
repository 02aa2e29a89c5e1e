"""DynamoDB implementation of chat changes: each change and its chat event item (in the Messages
table, where the Delivery consumer and sync find every chat event) in one transaction.

Every read here decides access or a rule, so every read is of a base table and strongly
consistent: the Members `byUser` index is eventually consistent on AWS, and would let a removed
member in (or a last admin out) for a moment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from tidings.chats.membership import Chat, ChatExists, LastAdmin, MembershipEvent, NoSuchMember
from tidings.chats.models import ChatModel, ChatsByType, DmPairModel, MemberModel, UserModel, dm_pair_key
from tidings.chats.rules import visibility_of
from tidings.kernel.errors import Conflict, NotFound
from tidings.kernel.paging import Cursor
from tidings.messaging.models import MessageModel

_BATCH_GET_LIMIT = 100


def chat_from_model(item: ChatModel) -> Chat:
    return Chat(
        item.chat_id,
        item.chat_type,
        item.name,
        item.description,
        visibility_of(item.chat_type, item.visibility),
        bool(item.archived),
        int(item.head_seq or 0),
        None if item.retention_days is None else int(item.retention_days),
    )


def _event_item(event: MembershipEvent) -> MessageModel:
    # `messageId` is the event's own id (a chat event item needs one; no message shares it).
    return MessageModel(
        event.chat.chat_id,
        event.seq,
        kind=event.kind,
        message_id=f"{event.kind}:{event.chat.chat_id}:{event.seq}",
        sender_id=event.actor_id,
        sender_name=event.actor_name,
        created_at=event.at,
        subject_id=event.subject_id,
        role=event.role,
        chat=event.chat.to_wire(),
    )


class DynamoChatChanges:
    def chat(self, chat_id: str) -> Chat | None:
        try:
            return chat_from_model(ChatModel.get(chat_id, consistent_read=True))
        except DoesNotExist:
            return None

    def role_of(self, chat_id: str, user_id: str) -> str | None:
        try:
            return MemberModel.get(chat_id, user_id, consistent_read=True, attributes_to_get=["role"]).role or "member"
        except DoesNotExist:
            return None

    def members(self, chat_id: str) -> list[tuple[str, str]]:
        return [
            (m.user_id, m.role or "member")
            for m in MemberModel.query(chat_id, consistent_read=True, attributes_to_get=["userId", "role"])
        ]

    def memberships_of(self, user_id: str, cursor: Cursor | None, limit: int) -> tuple[list[str], Cursor | None]:
        page = MemberModel.by_user.query(user_id, limit=limit, last_evaluated_key=cursor, attributes_to_get=["chatId"])
        return [member.chat_id for member in page], page.last_evaluated_key

    def known_users(self, user_ids: Sequence[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(user_ids))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), _BATCH_GET_LIMIT):
            for user in UserModel.batch_get(
                wanted[start : start + _BATCH_GET_LIMIT],
                consistent_read=True,
                attributes_to_get=["userId", "displayName"],
            ):
                found[user.user_id] = user.display_name
        return found

    def dm_between(self, user_id: str, other_id: str) -> str | None:
        try:
            return DmPairModel.get(dm_pair_key(user_id, other_id), consistent_read=True).dm_chat_id
        except DoesNotExist:
            return None

    def create(
        self, chat: Chat, roles: dict[str, str], event: MembershipEvent, dm_pair: tuple[str, str] | None
    ) -> None:
        now = event.at
        item = ChatModel(
            chat.chat_id,
            name=chat.name,
            chat_type=chat.chat_type,
            head_seq=event.seq,
            created_at=now,
            description=chat.description,
            visibility=chat.visibility,
            archived=False,
        )

        def write(transaction: TransactWrite) -> None:
            if dm_pair is not None:
                pair = DmPairModel(dm_pair_key(*dm_pair), dm_chat_id=chat.chat_id)
                transaction.save(pair, condition=DmPairModel.pair_key.does_not_exist())
            transaction.save(item, condition=ChatModel.chat_id.does_not_exist())
            for user_id, role in roles.items():
                transaction.save(MemberModel(chat.chat_id, user_id, role=role, joined_at=now))
            transaction.save(_event_item(event), condition=MessageModel.seq.does_not_exist())

        if _transact(write) is not None:
            raise ChatExists()

    def allocate_seq(self, chat_id: str) -> int:
        """The chat's next seq: one atomic ADD (the same counter messages take theirs from)."""
        chat = ChatModel(chat_id)
        try:
            chat.update(actions=[ChatModel.head_seq.add(1)], condition=ChatModel.chat_id.exists())
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise NotFound(f"Chat {chat_id!r} does not exist") from exc
            raise
        return int(chat.head_seq)

    def record_join(self, event: MembershipEvent) -> None:
        assert event.subject_id is not None and event.role is not None
        member = MemberModel(event.chat.chat_id, event.subject_id, role=event.role, joined_at=event.at)

        def write(transaction: TransactWrite) -> None:
            transaction.save(member, condition=MemberModel.user_id.does_not_exist())
            transaction.save(_event_item(event), condition=MessageModel.seq.does_not_exist())

        if _transact(write) is not None:
            raise ChatExists()

    def record_role(self, event: MembershipEvent, previous: str, other_admin: str | None) -> None:
        assert event.subject_id is not None
        member = MemberModel(event.chat.chat_id, event.subject_id)

        def write(transaction: TransactWrite) -> None:
            _keep_admin(transaction, event.chat.chat_id, other_admin)
            transaction.update(
                member, [MemberModel.role.set(event.role or "member")], condition=_is_member_as(previous)
            )
            transaction.save(_event_item(event), condition=MessageModel.seq.does_not_exist())

        self._changed(write, other_admin)

    def record_leave(self, event: MembershipEvent, previous: str, other_admin: str | None) -> None:
        """Deletes the member item and takes its badges off the user's totals, both in the
        transaction: the totals never count a chat the user is no longer in. The counts are
        read first and the delete is conditional on them, so a badge change in between makes
        this try again with the new counts."""
        assert event.subject_id is not None
        chat_id, user_id = event.chat.chat_id, event.subject_id
        for _ in range(5):
            try:
                current = MemberModel.get(chat_id, user_id, consistent_read=True)
            except DoesNotExist:
                raise NoSuchMember() from None
            unread, mentions = int(current.unread_count or 0), int(current.mention_count or 0)
            condition = (
                _is_member_as(previous) & (MemberModel.unread_count == unread) & (MemberModel.mention_count == mentions)
            )

            write = _leave(event, condition, unread, mentions, other_admin)
            try:
                self._changed(write, other_admin)
                return
            except NoSuchMember:
                still = self.role_of(chat_id, user_id)
                if still != previous:
                    raise
                # only the badges moved: read them again
        raise Conflict("The member's badges kept changing; retry")

    def record_update(self, event: MembershipEvent) -> None:
        chat = event.chat
        actions: list[Action] = [
            ChatModel.name.set(chat.name) if chat.name is not None else ChatModel.name.remove(),
            ChatModel.description.set(chat.description)
            if chat.description is not None
            else ChatModel.description.remove(),
            ChatModel.archived.set(chat.archived),
            ChatModel.retention_days.set(chat.retention_days)
            if chat.retention_days is not None
            else ChatModel.retention_days.remove(),
        ]

        def write(transaction: TransactWrite) -> None:
            transaction.update(ChatModel(chat.chat_id), actions, condition=ChatModel.chat_id.exists())
            transaction.save(_event_item(event), condition=MessageModel.seq.does_not_exist())

        if _transact(write) is not None:
            raise NotFound(f"Chat {chat.chat_id!r} does not exist")

    def _changed(self, write: Callable[[TransactWrite], None], other_admin: str | None) -> None:
        """Runs a member change whose first operation is the other admin's check (when there is
        one): a failed check there is LastAdmin, one anywhere else NoSuchMember."""
        failed = _transact(write)
        if failed is None:
            return
        if other_admin is not None and failed == 0:
            raise LastAdmin()
        raise NoSuchMember()


class DynamoChannels:
    def public_channels(self, after: str | None, limit: int) -> tuple[list[Chat], str | None]:
        """One page of the `byType` index's channel partition (keys only), then one
        BatchGetItem of those chats: the public ones are kept."""
        keys = list(
            ChatModel.by_type.query(
                "channel",
                ChatsByType.chat_id > after if after is not None else None,
                limit=limit,
            )
        )
        ids = [key.chat_id for key in keys]
        chats = {c.chat_id: chat_from_model(c) for c in ChatModel.batch_get(ids)} if ids else {}
        public = [chats[i] for i in ids if i in chats and chats[i].visibility == "public"]
        return public, (ids[-1] if len(ids) == limit else None)


def _leave(
    event: MembershipEvent, condition: Condition, unread: int, mentions: int, other_admin: str | None
) -> Callable[[TransactWrite], None]:
    chat_id, user_id = event.chat.chat_id, str(event.subject_id)

    def write(transaction: TransactWrite) -> None:
        _keep_admin(transaction, chat_id, other_admin)
        transaction.delete(MemberModel(chat_id, user_id), condition=condition)
        if unread or mentions:
            totals: list[Action] = [UserModel.total_unread.add(-unread), UserModel.total_mentions.add(-mentions)]
            transaction.update(UserModel(user_id), totals, condition=UserModel.user_id.exists())
        transaction.save(_event_item(event), condition=MessageModel.seq.does_not_exist())

    return write


def _is_member_as(role: str) -> Condition:
    # A member item written before roles existed has none: it is a member.
    if role == "member":
        return MemberModel.user_id.exists() & (MemberModel.role.does_not_exist() | (MemberModel.role == "member"))
    return MemberModel.user_id.exists() & (MemberModel.role == role)


def _keep_admin(transaction: TransactWrite, chat_id: str, other_admin: str | None) -> None:
    """The check that `other_admin` is still one. PynamoDB sends condition checks first, so a
    failure here is the cancellation reason at index 0."""
    if other_admin is not None:
        transaction.condition_check(
            MemberModel, chat_id, other_admin, condition=MemberModel.user_id.exists() & (MemberModel.role == "admin")
        )


def _transact(write: Callable[[TransactWrite], None]) -> int | None:
    """Runs the transaction; the index of the first operation whose condition failed, or None
    when it committed. A conflict with another transaction on the same items is retried."""
    for attempt in range(3):
        try:
            with TransactWrite(connection=_connection()) as transaction:
                write(transaction)
            return None
        except TransactWriteError as exc:
            reasons: list[Any] = [reason.code if reason else None for reason in (exc.cancellation_reasons or [])]
            if "ConditionalCheckFailed" in reasons:
                return reasons.index("ConditionalCheckFailed")
            if "TransactionConflict" in reasons and attempt < 2:
                continue
            raise
    raise AssertionError("unreachable")


@cache
def _connection() -> Connection:
    """One connection per container, as the message store's (a client costs more than a call)."""
    return Connection(region=MessageModel.Meta.region)
