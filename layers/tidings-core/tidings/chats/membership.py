"""Chats and members for client authors (docs/protocol.md, "Chats and members"): creating DMs,
groups and channels, changing a chat, adding, promoting and removing members, the channel
directory.

Who may do what is `tidings.chats.rules`. The caller is a user, or `PLATFORM`: the platform's
backend through the administration API, which passes every admin check and may leave a chat
without an admin (nobody is promoted; the platform keeps managing it).

Every change after a chat's creation is a chat event (its kinds and frames:
`tidings.chats.membership_events`):
it takes the chat's next seq and is written in one transaction with the change itself, so the
Delivery consumer and `sync.request` hand it to the members like a message event; the store
(`tidings.chats.membership_store`) does the writing. Access is always decided on the base
tables, read strongly consistent, never on an index alone.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from tidings.chats.chat_member import ChatMember
from tidings.chats.rules import Action, Standing, refusal, visibility_of
from tidings.kernel.errors import BadFrame, Conflict, NotFound
from tidings.kernel.wire import camel_fields, iso

Role = Literal["member", "admin"]
EventKind = Literal["chat_created", "member_joined", "member_role", "member_left", "chat_updated"]
CHANNEL_PAGE_SIZE = 50
MAX_CHANNEL_READS = 10


@dataclass(frozen=True)
class Chat:
    chat_id: str
    chat_type: str
    name: str | None
    description: str | None
    visibility: str
    archived: bool
    head_seq: int = 0
    retention_days: int | None = None  # None: the deployment's default

    def to_wire(self) -> dict[str, Any]:
        return {**camel_fields(self, omit=("chat_type", "head_seq")), "type": self.chat_type}


@dataclass(frozen=True)
class ChatUpdate:
    """What a `PATCH` of a chat changes; None leaves a field as it is."""

    name: str | None = None
    description: str | None = None
    archived: bool | None = None
    retention_days: int | None = None  # 0: back to the deployment's default


@dataclass(frozen=True)
class ChatView:
    """A chat with its members, as the REST calls answer it."""

    chat: Chat
    members: list[ChatMember]

    def to_wire(self) -> dict[str, Any]:
        return {
            **self.chat.to_wire(),
            "members": [member.to_wire() for member in self.members],
            "headSeq": self.chat.head_seq,
        }


@dataclass(frozen=True)
class MembershipEvent:
    """A chat event about the chat or one of its members, recorded at `seq`: `subject_id` and
    `role` for a member's event, `chat` (the chat's fields after it) for every one."""

    kind: EventKind
    chat: Chat
    seq: int
    actor_id: str
    actor_name: str
    at: str
    subject_id: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class ChannelPage:
    channels: list[Chat]
    next_cursor: str | None

    def to_wire(self) -> dict[str, Any]:
        return {"channels": [chat.to_wire() for chat in self.channels], "nextCursor": self.next_cursor}


class Platform:
    """The platform's backend acting through the administration API: no user, a member of no
    chat. Its events are recorded with an actor id no user can have (outside the id rules)."""

    actor_id = "#platform"
    actor_name = "Platform"


PLATFORM = Platform()
Caller = str | Platform


class ChatExists(Exception):
    """The chat (or, for a DM, the pair's DM) was created by someone else first."""


class LastAdmin(Exception):
    """The change would leave the chat without an admin (the other admin it counted on went)."""


class NoSuchMember(Exception):
    """The member changed (left, was removed, or changed role) since it was read."""


class ChatChanges(Protocol):
    def chat(self, chat_id: str) -> Chat | None:
        """The chat, read strongly consistent; None when it does not exist."""

    def role_of(self, chat_id: str, user_id: str) -> str | None:
        """The user's role in the chat (consistent read of the member item), None for none."""

    def members(self, chat_id: str) -> list[tuple[str, str]]:
        """`(userId, role)` of every member, from the base table, consistent."""

    def known_users(self, user_ids: Sequence[str]) -> dict[str, str]:
        """`{userId: displayName}` of those of `user_ids` Tidings knows."""

    def memberships_of(
        self, user_id: str, cursor: dict[str, Any] | None, limit: int
    ) -> tuple[list[str], dict[str, Any] | None]:
        """A page of the ids of the user's chats (the members' user index), and the cursor of
        the next page (None after the last)."""

    def dm_between(self, user_id: str, other_id: str) -> str | None:
        """The pair's DM chat id, if they have one."""

    def create(
        self, chat: Chat, roles: dict[str, str], event: MembershipEvent, dm_pair: tuple[str, str] | None
    ) -> None:
        """The chat, its members and its `chat_created` event (seq 1) in one transaction,
        with the pair record for a DM. Raises ChatExists."""

    def allocate_seq(self, chat_id: str) -> int: ...

    def record_join(self, event: MembershipEvent) -> None:
        """Adds the member; raises ChatExists when they are already in."""

    def record_role(self, event: MembershipEvent, previous: str, other_admin: str | None) -> None:
        """Changes the member's role from `previous`; `other_admin` must still be an admin
        (LastAdmin otherwise). NoSuchMember when the member is not as read."""

    def record_leave(self, event: MembershipEvent, previous: str, other_admin: str | None) -> None:
        """Removes the member (with their badges of the chat); as `record_role` otherwise."""

    def record_update(self, event: MembershipEvent) -> None:
        """Writes the chat's new fields."""


class ChannelStore(Protocol):
    def public_channels(self, after: str | None, limit: int) -> tuple[list[Chat], str | None]:
        """Public channels in chat id order after `after`; the last id read when there may be more."""


_LAST_ADMIN = "The last admin cannot leave or step down: make another member an admin first"


@contextmanager
def _membership_races(user_id: str) -> Iterator[None]:
    """What a member change that lost a race answers: 409, read again."""
    try:
        yield
    except LastAdmin:
        raise Conflict(_LAST_ADMIN) from None
    except NoSuchMember:
        raise Conflict(f"The membership of {user_id!r} changed meanwhile; read it again") from None


def dm_chat_id(user_id: str, other_id: str) -> str:
    """The id a pair's DM is created with: the same whoever opens it, within the id rules."""
    first, second = sorted((user_id, other_id))
    digest = hashlib.sha256(f"{first}\n{second}".encode()).hexdigest()[:32]
    return f"dm-{digest}"


@dataclass(frozen=True)
class ChannelDirectory:
    """`GET /api/channels`: what a channel directory lists."""

    store: ChannelStore

    def channels(self, caller: str, query: str, cursor: str | None) -> ChannelPage:
        """Public channels whose name or id contains `query` (case-insensitive), a page at a time."""
        del caller  # every signed-in user sees the directory
        wanted = query.casefold().strip()
        found: list[Chat] = []
        after = cursor
        for _ in range(MAX_CHANNEL_READS):  # bounded: a rare query ends early, with a cursor
            if len(found) >= CHANNEL_PAGE_SIZE:
                break
            page, after = self.store.public_channels(after, CHANNEL_PAGE_SIZE - len(found))
            found += [c for c in page if not wanted or wanted in f"{c.name or ''}\n{c.chat_id}".casefold()]
            if after is None:
                break
        return ChannelPage(found, after)


@dataclass(frozen=True)
class ChatAdministration:
    store: ChatChanges
    now: Callable[[], float]
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex

    # --- creating ------------------------------------------------------------------------

    def open_dm(self, caller: str, other: str) -> tuple[ChatView, bool]:
        """The caller's DM with `other` and whether this call created it (False: it existed)."""
        return self._open_dm(caller, caller, other)

    def open_dm_between(self, first: str, second: str) -> tuple[ChatView, bool]:
        """The platform opening the pair's DM: as `open_dm`, both users must exist."""
        return self._open_dm(PLATFORM, first, second)

    def _open_dm(self, caller: Caller, first: str, second: str) -> tuple[ChatView, bool]:
        if first == second:
            raise BadFrame("members: a DM is with another user, not yourself")
        names = self.store.known_users([first, second])
        unknown = [user_id for user_id in (first, second) if user_id != caller and user_id not in names]
        if unknown:
            raise NotFound(f"userId: no user {unknown[0]!r}")
        existing = self.store.dm_between(first, second)
        if existing is None:
            chat = Chat(dm_chat_id(first, second), "dm", None, None, "private", False, head_seq=1)
            try:
                self.store.create(
                    chat, {first: "member", second: "member"}, self._created(chat, caller, names), (first, second)
                )
                return self._view(chat.chat_id), True
            except ChatExists:
                existing = self.store.dm_between(first, second)
                if existing is None:  # the pair's other record cannot vanish: a real fault
                    raise
        return self._view(existing), False

    def create_chat(
        self,
        caller: Caller,
        chat_type: str,
        name: str,
        members: Sequence[str],
        description: str | None = None,
        visibility: str | None = None,
        *,
        admins: Sequence[str] = (),
        chat_id: str | None = None,
    ) -> ChatView:
        """A user's new chat has them as its admin; the platform's has `admins` (maybe none)
        and may choose its id (409 when it is taken)."""
        if chat_type == "group" and visibility == "public":
            raise BadFrame("visibility: a group is private; make a channel to be public")
        admin_ids = list(admins) if isinstance(caller, Platform) else [caller, *admins]
        wanted = list(dict.fromkeys([*admin_ids, *members]))
        names = self.store.known_users(wanted)
        unknown = [user_id for user_id in wanted if user_id not in names]
        if unknown:
            raise NotFound(f"userId: no user {unknown[0]!r}")
        chat = Chat(
            chat_id or self.new_id(),
            chat_type,
            name,
            description,
            visibility_of(chat_type, visibility),
            False,
            head_seq=1,
        )
        roles = {user_id: "admin" if user_id in admin_ids else "member" for user_id in wanted}
        try:
            self.store.create(chat, roles, self._created(chat, caller, names), None)
        except ChatExists:
            raise Conflict(f"chatId: chat {chat.chat_id!r} exists") from None
        return self._view(chat.chat_id)

    def _created(self, chat: Chat, caller: Caller, names: dict[str, str]) -> MembershipEvent:
        actor_id, actor_name = self._actor(caller, names)
        return MembershipEvent("chat_created", chat, 1, actor_id, actor_name, iso(self.now()))

    # --- reading -------------------------------------------------------------------------

    def view(self, caller: str, chat_id: str) -> ChatView:
        self._allowed("view", caller, chat_id)
        return self._view(chat_id)

    # --- changing ------------------------------------------------------------------------

    def update_chat(self, caller: Caller, chat_id: str, change: ChatUpdate) -> ChatView:
        chat = self._allowed("update", caller, chat_id)
        changed = replace(
            chat,
            name=chat.name if change.name is None else change.name,
            description=chat.description if change.description is None else change.description,
            archived=chat.archived if change.archived is None else change.archived,
            # 0 clears the chat's own retention: the deployment's default applies again.
            retention_days=chat.retention_days if change.retention_days is None else (change.retention_days or None),
        )
        if changed != chat:
            self.store.record_update(self._event("chat_updated", changed, caller))
        return self._view(chat_id)

    def put_member(self, caller: Caller, chat_id: str, user_id: str, role: Role | None) -> tuple[str, bool]:
        """Adds (or joins) the user, or changes their role: their role now, and whether they
        were added (False: already a member)."""
        chat = self.store.chat(chat_id)
        caller_role = self._role_of(chat_id, caller) if chat else None
        current = caller_role if user_id == caller else (self.store.role_of(chat_id, user_id) if chat else None)
        if current is None:
            action: Action = "join" if user_id == caller else "add"
            if action == "join" and role == "admin":
                action = "set_role"  # joining as an admin is promoting oneself
        elif role is not None and role != current:
            action = "set_role"
        else:
            action = "view" if user_id == caller else "add"
        chat = self._check(action, caller, chat_id, chat, caller_role)
        if current is None:
            if not self.store.known_users([user_id]):
                raise NotFound(f"userId: no user {user_id!r}")
            added = role or "member"
            try:
                self.store.record_join(self._event("member_joined", chat, caller, user_id, added))
            except ChatExists:
                return self.store.role_of(chat_id, user_id) or added, False
            return added, True
        if role is None or role == current:
            return current, False
        other_admin = self._other_admin(caller, chat_id, user_id) if current == "admin" else None
        with _membership_races(user_id):
            self.store.record_role(self._event("member_role", chat, caller, user_id, role), current, other_admin)
        return role, False

    def remove_member(self, caller: Caller, chat_id: str, user_id: str) -> None:
        chat = self._allowed("leave" if user_id == caller else "remove", caller, chat_id)
        current = self.store.role_of(chat_id, user_id)
        if current is None:
            raise NotFound(f"userId: {user_id!r} is not a member of chat {chat_id!r}")
        other_admin = self._other_admin(caller, chat_id, user_id) if current == "admin" else None
        with _membership_races(user_id):
            self.store.record_leave(self._event("member_left", chat, caller, user_id, current), current, other_admin)

    # --- a user's erasure (the administration API) ------------------------------------------

    def memberships_of(
        self, user_id: str, cursor: dict[str, Any] | None, limit: int
    ) -> tuple[list[str], dict[str, Any] | None]:
        return self.store.memberships_of(user_id, cursor, limit)

    def remove_erased_user(self, chat_id: str, user_id: str) -> bool:
        """Takes a user who is being erased out of a chat, as the platform: a `member_left`
        event like any removal (the removed member's cut-off applies), a DM's too, the one
        change a DM's members ever see (the other member keeps the history). False when the
        user was not in it (any more: a redelivered erasure job)."""
        chat = self.store.chat(chat_id)
        if chat is None:
            return False
        self._check("erase", PLATFORM, chat_id, chat, None)
        for _ in range(3):
            current = self.store.role_of(chat_id, user_id)
            if current is None:
                return False
            try:
                self.store.record_leave(self._event("member_left", chat, PLATFORM, user_id, current), current, None)
                return True
            except NoSuchMember:
                continue  # their role changed since it was read: read it again
        raise Conflict(f"The membership of {user_id!r} in {chat_id!r} kept changing; retry")

    # --- helpers -------------------------------------------------------------------------

    def _other_admin(self, caller: Caller, chat_id: str, leaving: str) -> str | None:
        """Another admin of the chat, who must still be one when the change is written: the
        last admin cannot leave or step down (two admins stepping down at once: one fails).
        None for the platform, which may take a chat's last admin away."""
        if isinstance(caller, Platform):
            return None
        others = sorted(
            user_id for user_id, role in self.store.members(chat_id) if role == "admin" and user_id != leaving
        )
        if not others:
            raise Conflict(_LAST_ADMIN)
        return others[0]

    def _role_of(self, chat_id: str, caller: Caller) -> str | None:
        return None if isinstance(caller, Platform) else self.store.role_of(chat_id, caller)

    def _allowed(self, action: Action, caller: Caller, chat_id: str) -> Chat:
        chat = self.store.chat(chat_id)
        return self._check(action, caller, chat_id, chat, self._role_of(chat_id, caller) if chat else None)

    def _check(self, action: Action, caller: Caller, chat_id: str, chat: Chat | None, role: str | None) -> Chat:
        if chat is None:
            raise NotFound(f"Chat {chat_id!r} does not exist")
        standing = Standing(chat.chat_type, chat.visibility, role, platform=isinstance(caller, Platform))
        refused = refusal(action, chat_id, standing)
        if refused is not None:
            raise refused
        return chat

    def _event(
        self, kind: EventKind, chat: Chat, caller: Caller, subject: str | None = None, role: str | None = None
    ) -> MembershipEvent:
        seq = self.store.allocate_seq(chat.chat_id)
        names = {} if isinstance(caller, Platform) else self.store.known_users([caller])
        actor_id, actor_name = self._actor(caller, names)
        return MembershipEvent(
            kind, replace(chat, head_seq=seq), seq, actor_id, actor_name, iso(self.now()), subject, role
        )

    @staticmethod
    def _actor(caller: Caller, names: dict[str, str]) -> tuple[str, str]:
        """Who an event is recorded as made by: its id and display name."""
        if isinstance(caller, Platform):
            return caller.actor_id, caller.actor_name
        return caller, names.get(caller, caller)

    def _view(self, chat_id: str) -> ChatView:
        chat = self.store.chat(chat_id)
        if chat is None:
            raise NotFound(f"Chat {chat_id!r} does not exist")
        members = self.store.members(chat_id)
        names = self.store.known_users([user_id for user_id, _ in members])
        return ChatView(chat, [ChatMember(user_id, names.get(user_id, user_id), role) for user_id, role in members])
