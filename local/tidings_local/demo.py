"""The demo data of `tidings dev --demo`, and the one way the local runtime writes a chat.

The demo is a built-in seed file (`seeds/demo.json`, loaded by `seed.py` like any `--seed FILE`).
Writing through the PynamoDB models, not raw items, means local data has exactly the shape the
handlers read. Without `--demo` or `--seed` the runtime starts empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tidings.chats.models import ChatModel, DmPairModel, MemberModel, UserModel, dm_pair_key


def load_demo_data() -> None:
    from tidings_local.seed import DEMO_SEED, apply_seed, load_seeds

    apply_seed(load_seeds([DEMO_SEED]))


def add_chat(
    chat_id: str,
    chat_type: str,
    name: str | None,
    members: Sequence[str],
    admins: Sequence[str] = (),
    *,
    visibility: str | None = None,
) -> None:
    """A chat with its members; a member Tidings does not know yet is created, named by its id
    (`POST /_local/chats`, for tests and local experiments). `visibility` only where the chat
    model has it (the seed refuses it otherwise)."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    chat = ChatModel(chat_id=chat_id, name=name, chat_type=chat_type, head_seq=0, created_at=now)
    if visibility is not None:
        setattr(chat, "visibility", visibility)  # noqa: B010  (an attribute the model may not declare yet)
    chat.save()
    for user_id in members:
        if UserModel.count(user_id) == 0:
            UserModel(user_id=user_id, display_name=user_id).save()
        role = "admin" if user_id in admins else "member"
        MemberModel(chat_id=chat_id, user_id=user_id, role=role, joined_at=now).save()
    if chat_type == "dm" and len(members) == 2:
        # The pair's DM: `POST /api/chats {type: "dm"}` finds this chat rather than make another.
        DmPairModel(dm_pair_key(*members), dm_chat_id=chat_id).save()
