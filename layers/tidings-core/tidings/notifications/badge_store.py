"""Badge counters on the member item (per chat) and the user item (totals)."""

from __future__ import annotations

from collections.abc import Sequence

from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.condition import Condition

from tidings.chats.models import MemberModel, UserModel
from tidings.messaging.models import MessageModel
from tidings.messaging.records import message_from_model
from tidings.notifications.badges import Badge, is_mentioned

# A recount that loses a race with a concurrent increment recounts again.
_RECOUNT_ATTEMPTS = 4


def _unchanged(attribute: NumberAttribute, value: int) -> Condition:
    """Still `value` (a counter never written reads as 0)."""
    condition = attribute == value
    return condition | attribute.does_not_exist() if value == 0 else condition


class DynamoBadgeStore:
    def increment(self, chat_id: str, user_id: str, mentioned: bool, seq: int | None = None) -> Badge | None:
        """One atomic ADD, on a member whose watermark is still below the message at `seq` (a
        member who has read past it, by read.mark or by sending a later message, does not count
        it); None when it did not count."""
        member = MemberModel(chat_id, user_id)
        condition = MemberModel.user_id.exists()
        if seq is not None:
            condition &= MemberModel.last_read_seq.does_not_exist() | (MemberModel.last_read_seq < seq)
        try:
            member.update(
                actions=[MemberModel.unread_count.add(1), MemberModel.mention_count.add(1 if mentioned else 0)],
                condition=condition,
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None  # read already, or no longer a member
            raise
        return self._with_totals(chat_id, user_id, member, unread_delta=1, mention_delta=1 if mentioned else 0)

    def recount(self, chat_id: str, user_id: str) -> Badge:
        badge = self._recount(chat_id, user_id, only_down=False)
        assert badge is not None  # a full recount always stores its result
        return badge

    def recount_after_delete(self, chat_id: str, user_id: str) -> Badge | None:
        return self._recount(chat_id, user_id, only_down=True)

    def may_count(self, chat_id: str, seq: int) -> list[str]:
        members = MemberModel.query(
            chat_id, attributes_to_get=["userId", "lastReadSeq", "unreadCount", "mentionCount"], consistent_read=True
        )
        return [
            member.user_id
            for member in members
            if int(member.last_read_seq or 0) < seq
            and (int(member.unread_count or 0) or int(member.mention_count or 0))
        ]

    def _recount(self, chat_id: str, user_id: str, only_down: bool) -> Badge | None:
        """Counts from the watermark and stores the result, conditioned on the counts it read so
        a message counted meanwhile makes it count again. `only_down` keeps each count at most
        what it was (after a delete a count can only fall: messages that were never counted,
        because the chat was focused, must not start counting now) and writes nothing, returning
        None, when nothing falls."""
        for _ in range(_RECOUNT_ATTEMPTS):
            member = MemberModel.get(chat_id, user_id, consistent_read=True)
            unread, mentions = self._count_after(chat_id, user_id, int(member.last_read_seq or 0))
            old_unread, old_mentions = int(member.unread_count or 0), int(member.mention_count or 0)
            if only_down:
                unread, mentions = min(unread, old_unread), min(mentions, old_mentions)
                if (unread, mentions) == (old_unread, old_mentions):
                    return None
            try:
                member.update(
                    actions=[MemberModel.unread_count.set(unread), MemberModel.mention_count.set(mentions)],
                    condition=_unchanged(MemberModel.unread_count, old_unread)
                    & _unchanged(MemberModel.mention_count, old_mentions),
                )
            except UpdateError as exc:
                if exc.cause_response_code == "ConditionalCheckFailedException":
                    continue  # a message arrived meanwhile: count again
                raise
            return self._with_totals(
                chat_id, user_id, member, unread_delta=unread - old_unread, mention_delta=mentions - old_mentions
            )
        raise RuntimeError(f"badge recount for {user_id} in {chat_id} kept losing races")

    def current(self, user_id: str, chat_ids: Sequence[str]) -> list[Badge]:
        keys = [(chat_id, user_id) for chat_id in dict.fromkeys(chat_ids)]
        members = sorted(
            MemberModel.batch_get(keys, attributes_to_get=["chatId", "userId", "unreadCount", "mentionCount"]),
            key=lambda member: member.chat_id,
        )
        if not members:
            return []
        try:
            user = UserModel.get(user_id, attributes_to_get=["userId", "totalUnread", "totalMentions"])
            totals = int(user.total_unread or 0), int(user.total_mentions or 0)
        except DoesNotExist:
            totals = 0, 0
        return [
            Badge(m.chat_id, int(m.unread_count or 0), int(m.mention_count or 0), max(0, totals[0]), max(0, totals[1]))
            for m in members
        ]

    def _count_after(self, chat_id: str, user_id: str, seq: int) -> tuple[int, int]:
        unread = mentions = 0
        # Consistent: a recount follows a write (a watermark move, a delete) it must see.
        for item in MessageModel.query(
            chat_id, MessageModel.seq > seq, filter_condition=MessageModel.kind == "message", consistent_read=True
        ):
            message = message_from_model(item)
            if message.sender_id == user_id or message.deleted:
                continue
            unread += 1
            mentions += is_mentioned(message, user_id)
        return unread, mentions

    def _with_totals(
        self, chat_id: str, user_id: str, member: MemberModel, unread_delta: int, mention_delta: int
    ) -> Badge:
        user = UserModel(user_id)
        user.update(actions=[UserModel.total_unread.add(unread_delta), UserModel.total_mentions.add(mention_delta)])
        return Badge(
            chat_id=chat_id,
            unread_count=int(member.unread_count),
            mention_count=int(member.mention_count),
            total_unread_count=max(0, int(user.total_unread)),
            total_mention_count=max(0, int(user.total_mentions)),
        )
