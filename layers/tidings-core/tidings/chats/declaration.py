"""The directory's part of the application: the chat list and the channel directory over REST,
and the calls that create and change chats and their members (docs/protocol.md, "REST" and
"Chats and members")."""

from __future__ import annotations

from tidings.chats.models import CHATS, MEMBERS, USERS
from tidings.kernel.declaration import Feature, Function, HttpRoute
from tidings.messaging.models import MESSAGES
from tidings.sessions.declaration import JWT_SIGNING_KEY, TOKEN_VERIFICATION_SETTINGS

CHATS_API = Function(
    "ChatsApi",
    "chats",
    "chats_api.handler",
    "GET /api/chats, GET /api/channels: the caller's chats, with members, badges and preferences; public channels",
    tables=((CHATS, "read"), (MEMBERS, "read"), (USERS, "read")),
    secrets=(JWT_SIGNING_KEY,),
    settings=TOKEN_VERIFICATION_SETTINGS,
)
# Writes chats and members, and each change's chat event into the Messages table (write only:
# the event log is messaging's to read); Users read_write for the badge totals a removal lowers.
CHAT_CHANGES = Function(
    "ChatChanges",
    "chats",
    "chat_changes.handler",
    "POST /api/chats, PATCH /api/chats/{chatId}, PUT and DELETE /api/chats/{chatId}/members/{userId}",
    tables=((CHATS, "read_write"), (MEMBERS, "read_write"), (USERS, "read_write"), (MESSAGES, "write")),
    secrets=(JWT_SIGNING_KEY,),
    settings=TOKEN_VERIFICATION_SETTINGS,
)
MEMBER_PATH = "/api/chats/{chatId}/members/{userId}"

FEATURE = Feature(
    "chats",
    functions=(CHATS_API, CHAT_CHANGES),
    http_routes=(
        HttpRoute("GET", "/api/chats", CHATS_API),
        HttpRoute("GET", "/api/channels", CHATS_API),
        HttpRoute("POST", "/api/chats", CHAT_CHANGES),
        HttpRoute("PATCH", "/api/chats/{chatId}", CHAT_CHANGES),
        HttpRoute("PUT", MEMBER_PATH, CHAT_CHANGES),
        HttpRoute("DELETE", MEMBER_PATH, CHAT_CHANGES),
    ),
)
