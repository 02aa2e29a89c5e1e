"""Who may do what to a chat and its members: one pure function, so the whole rule is one table
(`tests/unit/test_chat_rules.py`).

A caller who cannot see a chat (not a member, and it is not a public channel) learns nothing of
it: every action is NOT_FOUND, as if it did not exist. A caller who can see it but lacks the
right is FORBIDDEN. A DM's members never change: it is the pair's chat for good.

The platform (the administration API) sees every chat and passes every admin check; a DM stays
a DM for it too, but for a user's erasure, which takes them out of their DMs as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tidings.kernel.errors import Forbidden, NotFound, TidingsError

Action = Literal[
    "view",  # see the chat (its fields, its members)
    "update",  # PATCH name, description, archived
    "add",  # put another user in the chat
    "join",  # put oneself in the chat
    "set_role",  # change a member's role (one's own too)
    "remove",  # take another member out
    "leave",  # take oneself out
    "erase",  # take out a user who is being erased (the platform only)
]


@dataclass(frozen=True)
class Standing:
    """What the rule needs to know: the chat's type and visibility, and the caller's role in it
    (None when the caller is not a member)."""

    chat_type: str
    visibility: str
    role: str | None
    platform: bool = False  # the caller is the platform's backend, not a member


def refusal(action: Action, chat_id: str, standing: Standing) -> TidingsError | None:
    """None when `action` is allowed, else the error to answer with."""
    public_channel = standing.chat_type == "channel" and standing.visibility == "public"
    if standing.platform:
        # A user's erasure takes them out of every chat, their DMs too.
        dm_change = standing.chat_type == "dm" and action not in ("view", "erase")
        return Forbidden("A DM's members and fields do not change") if dm_change else None
    if standing.role is None and not public_channel:
        return NotFound(f"Chat {chat_id!r} does not exist")
    if action == "erase":
        return Forbidden("Only the platform erases users")
    if action == "view":
        return None
    if standing.chat_type == "dm" and action != "view":
        return Forbidden("A DM's members and fields do not change")
    if action == "join":  # a non-member who got this far sees a public channel
        return None
    if action == "leave":
        return None if standing.role is not None else NotFound(f"You are not a member of chat {chat_id!r}")
    if standing.role != "admin":
        return Forbidden(f"Only a chat admin may {_WHAT[action]}")
    return None


_WHAT = {
    "update": "change the chat",
    "add": "add members",
    "set_role": "change a member's role",
    "remove": "remove other members",
}


def visibility_of(chat_type: str, stored: str | None) -> str:
    """The visibility a chat has: as stored, else a channel's default (public) or private."""
    if stored in ("public", "private"):
        return stored
    return "public" if chat_type == "channel" else "private"
