"""`tidings dev --seed FILE`: users, chats and members from a JSON or YAML file, shaped like the
administration API's bodies:

    {"users": [{"userId", "displayName", "email"?, "avatarUrl"?}],
     "chats": [{"chatId", "type", "name"?, "members": [userId], "admins"?: [userId], "visibility"?,
                "messages"?: [{"sender": userId, "content"}]}]}

A chat's `messages` are its history: seqs 1, 2, … in file order, with their @mentions resolved
as a send resolves them, written in batches before the stream consumers start. They are history,
not news: nothing is delivered or notified, no badge counts them, no read watermark moves, and
search finds them after `tidings reindex`. A chat with hundreds of messages is how to try paging,
and a sync that is too large, without sending them one at a time under the rate limit.

A file is checked whole before anything is written, with the administration API's own rules
(`tidings.admin.wire`) and the directory's chat types; a mistake is a `SeedError` naming the file,
the entry and the field (`seed.json: chats[1].members[2]: no user 'zed' in the seed`). Every
member must be a user of the seed files loaded (`--demo` is the built-in one, `seeds/demo.json`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tidings.admin.wire import ID_RULE, UserPut, is_valid_id
from tidings.chats.models import ChatModel, UserModel
from tidings.kernel.wire import iso
from tidings.messaging.message import MAX_MENTION_CANDIDATES, Message, mention_candidates, resolve_mentions
from tidings.messaging.message_store import message_item
from tidings.messaging.models import MessageModel
from tidings.messaging.wire import Content
from tidings_local.demo import add_chat

DEMO_SEED = Path(__file__).with_name("seeds") / "demo.json"


class SeedError(ValueError):
    """A seed file that cannot be loaded; the message names the file, the entry and the field."""


def _valid_id(value: str) -> str:
    if not is_valid_id(value):
        raise ValueError(f"must be {ID_RULE}")
    return value


class SeedUser(UserPut):
    userId: str

    _user_id = field_validator("userId")(_valid_id)


class SeedMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sender: str
    content: Content


class SeedChat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chatId: str
    type: Literal["dm", "group", "channel"]
    name: str | None = Field(None, min_length=1, max_length=100)
    members: list[str] = Field(min_length=1)
    admins: list[str] = []
    visibility: Literal["public", "private"] | None = None
    messages: list[SeedMessage] = []

    _chat_id = field_validator("chatId")(_valid_id)

    @field_validator("members", "admins")
    @classmethod
    def _user_ids(cls, values: list[str]) -> list[str]:
        for value in values:
            _valid_id(value)
        if len(set(values)) != len(values):
            raise ValueError("lists a user twice")
        return values

    @model_validator(mode="after")
    def _shape(self) -> SeedChat:
        if self.type == "dm" and (len(self.members) != 2 or self.name is not None or self.admins):
            raise ValueError("a dm has exactly two members, and no name or admins")
        if self.type != "dm" and self.name is None:
            raise ValueError(f"a {self.type} needs a name")
        if stray := [user for user in self.admins if user not in self.members]:
            raise ValueError(f"admins {stray} are not members")
        if strangers := sorted({m.sender for m in self.messages} - set(self.members)):
            raise ValueError(f"messages are sent by {strangers}, who are not members")
        if self.visibility is not None and "visibility" not in ChatModel.get_attributes():
            raise ValueError("visibility: this runtime's chats have no visibility")
        return self


class SeedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[SeedUser] = []
    chats: list[SeedChat] = []


@dataclass(frozen=True)
class Seed:
    """What one or more seed files hold, checked: users (by id) and chats, in file order."""

    users: dict[str, SeedUser] = field(default_factory=dict)
    chats: list[SeedChat] = field(default_factory=list)
    sources: tuple[str, ...] = ()


def load_seeds(paths: Sequence[Path | str]) -> Seed:
    """The files, in order (a later file's user replaces an earlier one's), checked together."""
    users: dict[str, SeedUser] = {}
    chats: list[tuple[str, int, SeedChat]] = []
    for path in paths:
        document = _parse(Path(path))
        for user in document.users:
            users[user.userId] = user
        chats += [(str(path), index, chat) for index, chat in enumerate(document.chats)]
    seen: dict[str, str] = {}
    for path, index, chat in chats:
        where = f"{path}: chats[{index}]"
        if chat.chatId in seen:
            raise SeedError(f"{where}.chatId: {chat.chatId!r} is declared twice (first in {seen[chat.chatId]})")
        seen[chat.chatId] = where
        for position, member in enumerate(chat.members):
            if member not in users:
                raise SeedError(f"{where}.members[{position}]: no user {member!r} in the seed; add it to users")
    return Seed(users, [chat for _, _, chat in chats], tuple(str(p) for p in paths))


def apply_seed(seed: Seed) -> None:
    """Writes the seed through the PynamoDB models, as the handlers read them."""
    for user in seed.users.values():
        UserModel(user.userId, display_name=user.displayName, email=user.email, avatar_url=user.avatarUrl).save()
    for chat in seed.chats:
        add_chat(chat.chatId, chat.type, chat.name, chat.members, chat.admins, visibility=chat.visibility)
        _write_history(chat, seed.users)


def _write_history(chat: SeedChat, users: dict[str, SeedUser]) -> None:
    if not chat.messages:
        return
    at = iso(time.time())
    members = set(chat.members)
    with MessageModel.batch_write() as batch:
        for seq, entry in enumerate(chat.messages, start=1):
            mentions = resolve_mentions(mention_candidates(entry.content)[:MAX_MENTION_CANDIDATES], members)
            sender_name = users[entry.sender].displayName
            message = Message(
                str(uuid.uuid4()), chat.chatId, seq, entry.sender, sender_name, entry.content, at, mentions=mentions
            )
            batch.save(message_item(message))
    ChatModel(chat.chatId).update(actions=[ChatModel.head_seq.set(len(chat.messages))])


def describe(seed: Seed) -> str:
    """One line for the users and one per chat, for the `tidings dev` banner."""
    lines = [f"  users: {', '.join(seed.users)}"]
    for chat in seed.chats:
        admin_note = f" (admin: {', '.join(chat.admins)})" if chat.admins else ""
        history = f", {len(chat.messages)} messages" if chat.messages else ""
        lines.append(f"  {chat.chatId} [{chat.type}]: {', '.join(chat.members)}{admin_note}{history}")
    return "\n".join(lines)


def _parse(path: Path) -> SeedFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SeedError(f"{path}: not UTF-8 text") from None
    is_yaml = path.suffix.lower() in (".yaml", ".yml")
    try:
        raw: Any = yaml.safe_load(text) if is_yaml else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise SeedError(f"{path}: not valid {'YAML' if is_yaml else 'JSON'}: {exc}") from None
    if not isinstance(raw, dict):
        raise SeedError(f'{path}: must be an object: {{"users": [...], "chats": [...]}}')
    try:
        return SeedFile.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = _location(error["loc"])
        raise SeedError(f"{path}: {location}: {error['msg']}") from None


def _location(loc: Sequence[int | str]) -> str:
    """`("chats", 1, "members", 2)` -> `chats[1].members[2]`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the file"
