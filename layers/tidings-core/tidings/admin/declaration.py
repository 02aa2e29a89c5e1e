"""The administration API's part of the application: IAM-authorized routes of the HTTP API,
which only a principal allowed `execute-api:Invoke` on them (the platform's backend) can call.

Routes are added with `_admin_route`; the function's grants are the tables the routes read and
write, nothing more."""

from __future__ import annotations

from tidings.chats.models import CHATS, MEMBERS, USERS
from tidings.kernel.declaration import Feature, Function, HttpMethod, HttpRoute
from tidings.messaging.models import MESSAGES
from tidings.notifications.models import PUSH_SUBSCRIPTIONS
from tidings.sessions.declaration import JWT_SIGNING_KEY
from tidings.sessions.models import REFRESH_TOKENS

ADMIN_API = Function(
    "AdminApi",
    "admin",
    "admin_api.handler",
    "Administration API (IAM): provision users, mint sessions, export a user's data",
    tables=(
        (USERS, "read_write"),  # profiles
        (REFRESH_TOKENS, "write"),  # sessions it mints
        # The export: memberships and their chats, what the user wrote, push subscriptions.
        (MEMBERS, "read"),
        (CHATS, "read"),
        (MESSAGES, "read"),
        (PUSH_SUBSCRIPTIONS, "read"),
    ),
    secrets=(JWT_SIGNING_KEY,),  # signs the access tokens of the sessions it mints
    timeout_seconds=30,  # an export reads every item of the user
)


# Creates and changes chats and members as the platform: the chat changes' grants (each change
# with its chat event in the Messages table), without a token to verify.
ADMIN_CHATS = Function(
    "AdminChats",
    "admin",
    "admin_chats.handler",
    "Administration API (IAM): create and change chats and their members as the platform",
    tables=((CHATS, "read_write"), (MEMBERS, "read_write"), (USERS, "read_write"), (MESSAGES, "write")),
)
ADMIN_MEMBER_PATH = "/admin/chats/{chatId}/members/{userId}"


def _admin_route(method: HttpMethod, path: str, function: Function = ADMIN_API) -> HttpRoute:
    return HttpRoute(method, path, function, authorization="iam")


FEATURE = Feature(
    "admin",
    functions=(ADMIN_API, ADMIN_CHATS),
    http_routes=(
        _admin_route("PUT", "/admin/users/{userId}"),
        _admin_route("GET", "/admin/users/{userId}"),
        _admin_route("GET", "/admin/users/{userId}/export"),
        _admin_route("POST", "/admin/sessions"),
        _admin_route("POST", "/admin/chats", ADMIN_CHATS),
        _admin_route("PATCH", "/admin/chats/{chatId}", ADMIN_CHATS),
        _admin_route("PUT", ADMIN_MEMBER_PATH, ADMIN_CHATS),
        _admin_route("DELETE", ADMIN_MEMBER_PATH, ADMIN_CHATS),
    ),
)
