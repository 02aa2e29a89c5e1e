"""The administration API's part of the application: IAM-authorized routes of the HTTP API,
which only a principal allowed `execute-api:Invoke` on them (the platform's backend) can call.

Routes are added with `_admin_route`; the function's grants are the tables the routes read and
write, nothing more. `DELETE /admin/users/{userId}` marks the user erasing and queues the
erasure, which the erasure worker carries out (`tidings.admin.erasure`)."""

from __future__ import annotations

from tidings.attachments.declaration import DELETING_ATTACHMENTS, DELETING_FILES
from tidings.chats.models import CHATS, MEMBERS, USERS
from tidings.kernel.declaration import Feature, Function, HttpMethod, HttpRoute, Queue, QueueSubscription
from tidings.messaging.models import IDEMPOTENCY, MESSAGES
from tidings.notifications.models import PUSH_SUBSCRIPTIONS
from tidings.presence.models import PRESENCE, PRESENCE_SUBSCRIPTIONS
from tidings.search.declaration import SEARCH_INDEX
from tidings.sessions.declaration import JWT_SIGNING_KEY, TOKEN_TIMERS
from tidings.sessions.models import CONNECTION_RECORDS, REFRESH_TOKENS

# Erasures (docs/architecture.md "Erasing a user"): the first job of each from the API, then the
# worker's own continuations (each with its stage and cursor). A job that fails is redelivered
# after the visibility timeout (6x the worker's, as AWS advises for SQS event sources) and
# resumes where it was; after 5 receives it is parked in the DLQ, which alarms, and a DELETE
# of the user queues the erasure again.
ERASURE_JOBS = Queue("ErasureJobs", visibility_timeout_seconds=360, dead_letter_after=5)

ADMIN_API = Function(
    "AdminApi",
    "admin",
    "admin_api.handler",
    "Administration API (IAM): provision, export and erase users, mint sessions",
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
    send_queues=(ERASURE_JOBS,),  # DELETE /admin/users/{userId} queues the erasure
    timeout_seconds=30,  # an export reads every item of the user
)

# Erases a user, stage by stage: what each stage touches, nothing more. No secret: it verifies
# and mints no token.
ERASURE_WORKER = Function(
    "ErasureWorker",
    "admin",
    "erasure_worker.handler",
    "Erases a user: sessions and connections, messages, unsent uploads, memberships, push, presence, then the profile",
    tables=(
        (USERS, "read_write"),  # the erasure's marks, the revocation, the badge totals a leave lowers
        (REFRESH_TOKENS, "read_write"),  # the user's refresh tokens, found by their user index
        *CONNECTION_RECORDS,  # the connections it closes
        (MESSAGES, "read_write"),  # what the user sent (its sender index), each delete and leave event
        (IDEMPOTENCY, "read_write"),  # each delete's claim, so a redelivered job deletes nothing twice
        (CHATS, "read_write"),  # each event's seq
        (MEMBERS, "read_write"),  # the user's memberships (its user index), each leave
        (PUSH_SUBSCRIPTIONS, "read_write"),
        (PRESENCE, "write"),
        (PRESENCE_SUBSCRIPTIONS, "read_write"),  # both ways: the table and its subscriber index
        DELETING_ATTACHMENTS,  # each deleted message's attachments, the unsent uploads (its uploader index)
    ),
    buckets=(DELETING_FILES,),
    search=((SEARCH_INDEX, "read_write"),),  # removes the erased messages
    send_queues=(ERASURE_JOBS, TOKEN_TIMERS),  # its continuation; a close met inside a handshake
    manages_connections=True,
    timeout_seconds=60,
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
    functions=(ADMIN_API, ADMIN_CHATS, ERASURE_WORKER),
    http_routes=(
        _admin_route("PUT", "/admin/users/{userId}"),
        _admin_route("GET", "/admin/users/{userId}"),
        _admin_route("DELETE", "/admin/users/{userId}"),
        _admin_route("GET", "/admin/users/{userId}/export"),
        _admin_route("POST", "/admin/sessions"),
        _admin_route("POST", "/admin/chats", ADMIN_CHATS),
        _admin_route("PATCH", "/admin/chats/{chatId}", ADMIN_CHATS),
        _admin_route("PUT", ADMIN_MEMBER_PATH, ADMIN_CHATS),
        _admin_route("DELETE", ADMIN_MEMBER_PATH, ADMIN_CHATS),
    ),
    queue_subscriptions=(QueueSubscription(ERASURE_JOBS, ERASURE_WORKER, batch_size=1),),
)
