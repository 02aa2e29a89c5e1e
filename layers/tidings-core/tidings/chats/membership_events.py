"""The frames of membership and chat events, for the features that deliver and replay them.

The chats feature writes these events into the chat's event log (`membership_store`);
messaging's Delivery consumer posts their frames and `sync.request` replays them, through this
port: each kind, and how a stored event of it becomes its frame, is said once, here.

- `member_joined` (a member added, or joining): `member.joined` to every member; the new member's
  connections also get `chat.added`.
- `member_role` (a role changed): `member.joined` with the new role (clients upsert the member).
- `member_left` (left or removed): `member.left` to the remaining members; `chat.removed` to the
  one who went.
- `chat_updated`: `chat.updated` with the chat's fields after the change.
- `chat_created` (the chat's first seq): no chat-event frame; each member's connections get
  `chat.added`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tidings.chats.wire import ChatMemberWire, ChatWire, ChatWithMembersWire
from tidings.kernel.wire import ServerFrameEnvelope, ServerPayload, server_frame

MEMBER_JOINED, MEMBER_ROLE, MEMBER_LEFT = "member_joined", "member_role", "member_left"
CHAT_UPDATED, CHAT_CREATED = "chat_updated", "chat_created"
# The kinds `sync.request` replays (each has a chat-event frame); `chat_created` has none.
REPLAYED_KINDS = (MEMBER_JOINED, MEMBER_ROLE, MEMBER_LEFT, CHAT_UPDATED)
KINDS = (*REPLAYED_KINDS, CHAT_CREATED)


@dataclass(frozen=True)
class ChatChange:
    """A stored membership or chat event: its kind and seq, the member it is about and their
    role (member events), and the chat's fields as the event left them."""

    kind: str
    chat_id: str
    seq: int
    subject_id: str | None
    role: str | None
    chat: dict[str, Any]


class MemberJoinedPayload(ServerPayload):
    chatId: str
    seq: int
    userId: str
    role: Literal["admin", "member"]


class MemberLeftPayload(ServerPayload):
    chatId: str
    seq: int
    userId: str


class ChatUpdatedPayload(ServerPayload):
    chatId: str
    seq: int
    chat: ChatWire


class ChatAddedPayload(ServerPayload):
    chat: ChatWithMembersWire


class ChatRemovedPayload(ServerPayload):
    chatId: str


class MemberJoinedFrame(ServerFrameEnvelope):
    type: Literal["member.joined"]
    payload: MemberJoinedPayload


class MemberLeftFrame(ServerFrameEnvelope):
    type: Literal["member.left"]
    payload: MemberLeftPayload


class ChatUpdatedFrame(ServerFrameEnvelope):
    type: Literal["chat.updated"]
    payload: ChatUpdatedPayload


def change_frame(change: ChatChange) -> dict[str, Any] | None:
    """The chat-event frame every member gets for `change`; None for a kind that has none."""
    if change.kind in (MEMBER_JOINED, MEMBER_ROLE):
        payload: ServerPayload = MemberJoinedPayload(
            chatId=change.chat_id,
            seq=change.seq,
            userId=str(change.subject_id),
            role="admin" if change.role == "admin" else "member",
        )
        return server_frame("member.joined", payload)
    if change.kind == MEMBER_LEFT:
        return server_frame(
            "member.left", MemberLeftPayload(chatId=change.chat_id, seq=change.seq, userId=str(change.subject_id))
        )
    if change.kind == CHAT_UPDATED:
        payload = ChatUpdatedPayload(chatId=change.chat_id, seq=change.seq, chat=ChatWire.model_validate(change.chat))
        return server_frame("chat.updated", payload)
    return None


def arrivals(change: ChatChange, member_ids: list[str]) -> list[str]:
    """Whose connections get `chat.added` for `change`: the new member, or every member of a
    new chat."""
    if change.kind == MEMBER_JOINED and change.subject_id is not None:
        return [change.subject_id]
    if change.kind == CHAT_CREATED:
        return member_ids
    return []


def departure(change: ChatChange) -> str | None:
    """Whose connections get `chat.removed` for `change`."""
    return change.subject_id if change.kind == MEMBER_LEFT else None


def chat_added_frame(change: ChatChange, members: list[dict[str, Any]]) -> dict[str, Any]:
    """`chat.added {chat}`: the chat's fields, its members (`{userId, displayName, role}`) and
    its `headSeq` as of this event, so the client can sync from there."""
    chat = ChatWithMembersWire.model_validate(
        {**change.chat, "members": [ChatMemberWire.model_validate(m) for m in members], "headSeq": change.seq}
    )
    return server_frame("chat.added", ChatAddedPayload(chat=chat))


def chat_removed_frame(change: ChatChange) -> dict[str, Any]:
    return server_frame("chat.removed", ChatRemovedPayload(chatId=change.chat_id))
