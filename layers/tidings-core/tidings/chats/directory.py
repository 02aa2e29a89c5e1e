"""The directory's ports, for every feature: display names, member lists, chat names and types,
a user's chats and the people in them. Reads only; names and chat info are cached per container."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from pynamodb.exceptions import DoesNotExist

from tidings.chats.models import ChatModel, MemberModel, UserModel
from tidings.kernel.caching import ExpiringCache

# BatchGetItem takes at most 100 keys; mention candidates are capped well below that.
_BATCH_GET_LIMIT = 100


@dataclass(frozen=True)
class ChatInfo:
    """A chat as other features see it: its id, name and type (dm | group | channel)."""

    chat_id: str
    name: str | None
    chat_type: str


@dataclass(frozen=True)
class Person:
    user_id: str
    display_name: str


class MemberDirectory(Protocol):
    """A chat's member ids: whom a chat's frames and notifications go to."""

    def member_ids(self, chat_id: str) -> list[str]: ...


class DynamoUserDirectory:
    """Display names, cached for the life of a Lambda container: they rarely change, and a
    stale name on a message is harmless."""

    def __init__(self, ttl_seconds: float = 300.0) -> None:
        self._names = ExpiringCache(_display_name, ttl_seconds)

    def display_name(self, user_id: str) -> str:
        return self._names.get(user_id)


def _display_name(user_id: str) -> str:
    try:
        return UserModel.get(user_id).display_name
    except DoesNotExist:
        return user_id


class DynamoMemberDirectory:
    """A chat's members, by chat partition: ids, membership, roles. Every read is strongly
    consistent: each decides who may act in a chat or who gets its frames, and from the answer
    to a removal on, the removed member is out of all of them (an eventually consistent read
    could still find the member item for a moment)."""

    def members_among(self, chat_id: str, user_ids: set[str]) -> set[str]:
        keys = [(chat_id, user_id) for user_id in sorted(user_ids)[:_BATCH_GET_LIMIT]]
        found = MemberModel.batch_get(keys, consistent_read=True, attributes_to_get=["userId"])
        return {member.user_id for member in found}

    def role_of(self, chat_id: str, user_id: str) -> str | None:
        try:
            return MemberModel.get(chat_id, user_id, consistent_read=True, attributes_to_get=["role"]).role
        except DoesNotExist:
            return None

    def member_ids(self, chat_id: str) -> list[str]:
        return [m.user_id for m in MemberModel.query(chat_id, consistent_read=True, attributes_to_get=["userId"])]

    def roles(self, chat_id: str) -> dict[str, str]:
        """`{userId: role}` of every member."""
        members = MemberModel.query(chat_id, consistent_read=True, attributes_to_get=["userId", "role"])
        return {m.user_id: m.role or "member" for m in members}

    def is_member(self, chat_id: str, user_id: str) -> bool:
        try:
            MemberModel.get(chat_id, user_id, consistent_read=True, attributes_to_get=["userId"])
        except DoesNotExist:
            return False
        return True


class CachedChatDirectory:
    """Chat names and types, cached for the life of a container: they rarely change, and a
    stale name in a toast is harmless."""

    def __init__(self, ttl_seconds: float = 300.0) -> None:
        self._chats = ExpiringCache(_chat_info, ttl_seconds)

    def chat(self, chat_id: str) -> ChatInfo:
        return self._chats.get(chat_id)


def _chat_info(chat_id: str) -> ChatInfo:
    try:
        item = ChatModel.get(chat_id, attributes_to_get=["chatId", "name", "type"])
    except DoesNotExist:
        return ChatInfo(chat_id, None, "group")
    return ChatInfo(chat_id, item.name, item.chat_type)


CHAT_TYPES = ("dm", "group", "channel")


class DynamoUserChats:
    """A user's chats and the people in them: what search may show a searcher."""

    def chats_of(self, user_id: str) -> list[ChatInfo]:
        """One Query on Members.byUser, checked against the base table, one BatchGetItem of the
        chats."""
        chat_ids = sorted(confirmed_memberships(user_id, (m.chat_id for m in MemberModel.by_user.query(user_id))))
        if not chat_ids:
            return []
        chats = ChatModel.batch_get(chat_ids, attributes_to_get=["chatId", "name", "type"])
        return sorted((ChatInfo(c.chat_id, c.name, c.chat_type) for c in chats), key=lambda c: c.chat_id)

    def people_in(self, chat_ids: Sequence[str]) -> list[Person]:
        """One Query of members per chat, one BatchGetItem of display names."""
        user_ids: dict[str, None] = {}
        for chat_id in chat_ids:
            for member in MemberModel.query(chat_id, attributes_to_get=["userId"]):
                user_ids.setdefault(member.user_id, None)
        if not user_ids:
            return []
        names = {
            u.user_id: u.display_name
            for u in UserModel.batch_get(list(user_ids), attributes_to_get=["userId", "displayName"])
        }
        return [Person(user_id, names.get(user_id, user_id)) for user_id in user_ids]


class DynamoSharedChats:
    """Who shares a chat with whom: whose presence a user may watch. Never cached: from a
    removal on, the removed user no longer shares that chat."""

    def shared_with(self, user_id: str, others: Sequence[str]) -> set[str]:
        """Those of `others` who are in at least one chat with `user_id` (the user is not among
        them). The user's chats come from the `byUser` index and every membership is confirmed
        on the base table (strongly consistent), so a removal counts at once. One Query of the
        user's chats, then one BatchGetItem of the (chat, other) pairs and the user's own
        (chat, user) keys when they fit in one; else one BatchGetItem confirming the user's
        chats, one Query of each other's chats and one GetItem confirming the first chat shared."""
        candidates = sorted(set(others) - {user_id})
        if not candidates:
            return set()
        listed = {m.chat_id for m in MemberModel.by_user.query(user_id, attributes_to_get=["chatId"])}
        if not listed:
            return set()
        if len(listed) * (len(candidates) + 1) <= _BATCH_GET_LIMIT:
            keys = [(chat_id, member) for chat_id in sorted(listed) for member in [user_id, *candidates]]
            found = MemberModel.batch_get(keys, consistent_read=True, attributes_to_get=["chatId", "userId"])
            pairs = [(m.chat_id, m.user_id) for m in found]
            mine = {chat_id for chat_id, member in pairs if member == user_id}
            return {member for chat_id, member in pairs if member != user_id and chat_id in mine}
        mine = confirmed_memberships(user_id, listed)
        return {
            other
            for other in candidates
            if confirmed_memberships(
                other, (m.chat_id for m in MemberModel.by_user.query(other) if m.chat_id in mine), first_only=True
            )
        }


def confirmed_memberships(user_id: str, chat_ids: Iterable[str], *, first_only: bool = False) -> set[str]:
    """Those of `chat_ids` (read from the `byUser` index) the user is still a member of, by the
    base table, strongly consistent: the index is eventually consistent on AWS and can list a
    chat for a moment after a removal. `first_only`: stop at the first confirmed one."""
    wanted = sorted(set(chat_ids))
    if first_only:
        for chat_id in wanted:
            try:
                MemberModel.get(chat_id, user_id, consistent_read=True, attributes_to_get=["chatId"])
            except DoesNotExist:
                continue
            return {chat_id}
        return set()
    if not wanted:
        return set()
    # batch_get splits the keys into BatchGetItem calls of 100 and retries unprocessed ones.
    found = MemberModel.batch_get(
        [(chat_id, user_id) for chat_id in wanted], consistent_read=True, attributes_to_get=["chatId"]
    )
    return {member.chat_id for member in found}


def all_chat_ids() -> Iterator[str]:
    """Every chat, through the Chats.byType index: one Query per chat type (for the rebuild of
    the search index; no Scan)."""
    for chat_type in CHAT_TYPES:
        for chat in ChatModel.by_type.query(chat_type):
            yield chat.chat_id
