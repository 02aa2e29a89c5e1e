"""The demo data of `tidings dev --demo`, written through the PynamoDB models.

Writing through the models, not raw items, means the demo data has exactly the shape the
handlers read. Without `--demo` the runtime starts empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tidings.chats.models import ChatModel, DmPairModel, MemberModel, UserModel, dm_pair_key

USERS = {"alice": "Alice", "bob": "Bob", "carol": "Carol", "dave": "Dave", "erin": "Erin"}

# chat id -> (type, name, members, admins)
CHATS: dict[str, tuple[str, str | None, tuple[str, ...], tuple[str, ...]]] = {
    "dm-alice-bob": ("dm", None, ("alice", "bob"), ()),
    "project-x": ("group", "Project X", ("alice", "bob", "carol"), ("alice",)),
    "general": ("channel", "general", ("alice", "bob", "carol", "dave", "erin"), ("alice",)),
}


def load_demo_data() -> None:
    for user_id, display_name in USERS.items():
        UserModel(user_id=user_id, display_name=display_name).save()
    for chat_id, (chat_type, name, members, admins) in CHATS.items():
        add_chat(chat_id, chat_type, name, members, admins)


def add_chat(
    chat_id: str, chat_type: str, name: str | None, members: Sequence[str], admins: Sequence[str] = ()
) -> None:
    """A chat with its members, written as the demo's are; a member Tidings does not know yet
    is created, named by its id (`POST /_local/chats`, for tests and local experiments until
    an API creates chats)."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    ChatModel(chat_id=chat_id, name=name, chat_type=chat_type, head_seq=0, created_at=now).save()
    for user_id in members:
        if UserModel.count(user_id) == 0:
            UserModel(user_id=user_id, display_name=user_id).save()
        role = "admin" if user_id in admins else "member"
        MemberModel(chat_id=chat_id, user_id=user_id, role=role, joined_at=now).save()
    if chat_type == "dm" and len(members) == 2:
        # The pair's DM: `POST /api/chats {type: "dm"}` finds this chat rather than make another.
        DmPairModel(dm_pair_key(*members), dm_chat_id=chat_id).save()


def describe() -> str:
    """One line per demo chat, for the `tidings dev --demo` banner."""
    lines = [f"  users: {', '.join(USERS)}"]
    for chat_id, (chat_type, _, members, admins) in CHATS.items():
        admin_note = f" (admin: {', '.join(admins)})" if admins else ""
        lines.append(f"  {chat_id} [{chat_type}]: {', '.join(members)}{admin_note}")
    return "\n".join(lines)
