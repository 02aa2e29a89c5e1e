"""The directory's part of the application: the chat list over REST (docs/protocol.md, "REST")."""

from __future__ import annotations

from tidings.chats.models import CHATS, MEMBERS, USERS
from tidings.kernel.declaration import Feature, Function, HttpRoute
from tidings.sessions.declaration import JWT_SIGNING_KEY, TOKEN_VERIFICATION_SETTINGS

CHATS_API = Function(
    "ChatsApi",
    "chats",
    "chats_api.handler",
    "GET /api/chats: the caller's chats, with members, badges and preferences",
    tables=((CHATS, "read"), (MEMBERS, "read"), (USERS, "read")),
    secrets=(JWT_SIGNING_KEY,),
    settings=TOKEN_VERIFICATION_SETTINGS,
)

FEATURE = Feature("chats", functions=(CHATS_API,), http_routes=(HttpRoute("GET", "/api/chats", CHATS_API),))
