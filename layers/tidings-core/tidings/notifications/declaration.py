"""Notifications' part of the application (docs/protocol.md, "Notifications"): what the
Delivery consumer needs to notify (badges, toasts, push jobs) and the retry of what it could not,
preferences and push subscriptions over REST, and the push worker."""

from __future__ import annotations

from pydantic import Field

from tidings.chats.models import CHATS, MEMBERS, USERS
from tidings.kernel.connections_api import DELIVERY_RETRIES
from tidings.kernel.declaration import (
    Access,
    Feature,
    Function,
    HttpRoute,
    Queue,
    QueueSubscription,
    Secret,
    Table,
)
from tidings.kernel.environment import FeatureSettings
from tidings.kernel.ephemeral import EPHEMERAL
from tidings.messaging.models import MESSAGES
from tidings.notifications.models import PUSH_SUBSCRIPTIONS
from tidings.presence.models import PRESENCE
from tidings.sessions.declaration import JWT_SIGNING_KEY, TOKEN_VERIFICATION_SETTINGS
from tidings.sessions.models import CONNECTION_RECORDS


class PushSettings(FeatureSettings, prefix="PUSH_"):
    """`PUSH_ALLOW_LOOPBACK_HTTP`: Web Push endpoints must be https; `tidings dev` also allows
    http to a loopback host, for a local push service (never set on AWS).
    `PUSH_RETRY_BASE_SECONDS`: the first push retry's delay, then doubling
    (`tidings dev --push-retry-base-seconds` shortens it)."""

    allow_loopback_http: bool = False
    retry_base_seconds: float = Field(30, gt=0, le=900)


# Push (docs/architecture.md "Push"). Jobs from the Delivery consumer, and the worker's own
# per-subscription retries (each with its backoff as DelaySeconds). Delivery failures are
# retried by re-enqueueing, so only a job the worker cannot process at all (a malformed body,
# storage down) is redelivered by SQS, and after 3 receives parked in the DLQ. Visibility is 6x
# the worker's timeout, as AWS advises for SQS event sources.
PUSH_JOBS = Queue("PushJobs", visibility_timeout_seconds=360, dead_letter_after=3)
# Placeholders ("{}") mean "not configured": that platform's subscriptions are skipped.
PUSH_VAPID = Secret(
    "PushVapidKey",
    'Web Push VAPID key pair: {"privateKey": base64url P-256 scalar, "subject": "mailto:..."}',
    placeholder="{}",
)
PUSH_FCM = Secret("PushFcmServiceAccount", "FCM HTTP v1: the Firebase service account JSON key", placeholder="{}")
PUSH_APNS = Secret(
    "PushApnsKey",
    'APNs token auth: {"teamId", "keyId", "privateKey" (.p8 PEM), "bundleId", "sandbox"}',
    placeholder="{}",
)

# Notification retries (docs/architecture.md "Notifications"): the chat events whose notification
# work failed in the Delivery consumer after their frames were posted, so that a failure here
# never makes the stream retry deliver the frames again. Each job is retried by SQS (after the
# visibility timeout, 6x the function's) and after 3 receives parked in the DLQ, which alarms.
NOTIFICATION_RETRIES = Queue(
    "NotificationRetries", delay_seconds=5, visibility_timeout_seconds=180, dead_letter_after=3
)

# What a function that notifies needs (the Delivery consumer, the notification retry): badges on
# members and users, preferences, the chat's name, connections and their focus, toast groups,
# presence for DND; it posts frames (retried through the delivery retry queue) and queues pushes.
NOTIFYING: tuple[tuple[Table, Access], ...] = (
    (MEMBERS, "read_write"),
    (MESSAGES, "read"),  # a delete recounts the badges that counted its message
    (USERS, "read_write"),  # badge totals, preferences
    (CHATS, "read"),
    *CONNECTION_RECORDS,
    (EPHEMERAL, "read_write"),  # toast groups
    (PRESENCE, "read"),  # DND
)
NOTIFYING_QUEUES = (PUSH_JOBS, DELIVERY_RETRIES)

NOTIFY_RETRY = Function(
    "NotifyRetry",
    "notifications",
    "notify_retries.handler",
    "Notification work the Delivery consumer could not do: badges, toasts and push jobs, retried",
    tables=NOTIFYING,
    send_queues=NOTIFYING_QUEUES,
    manages_connections=True,
    timeout_seconds=30,
)
PREFS_API = Function(
    "PrefsApi",
    "notifications",
    "prefs_api.handler",
    "GET/PUT /api/prefs: notification preferences",
    tables=((USERS, "read_write"),),
    secrets=(JWT_SIGNING_KEY,),
    settings=TOKEN_VERIFICATION_SETTINGS,
)
PUSH_API = Function(
    "PushApi",
    "notifications",
    "push_api.handler",
    "POST/DELETE /api/push/subscriptions and GET /api/push/vapid-public-key",
    tables=((PUSH_SUBSCRIPTIONS, "read_write"), (USERS, "read")),
    secrets=(JWT_SIGNING_KEY, PUSH_VAPID),
    settings=(PushSettings, *TOKEN_VERIFICATION_SETTINGS),
)
PUSH_WORKER = Function(
    "PushWorker",
    "notifications",
    "push_worker.handler",
    "Sends push jobs through Web Push, FCM and APNs; retries with backoff, deletes gone subscriptions",
    tables=((PUSH_SUBSCRIPTIONS, "read_write"),),
    secrets=(PUSH_VAPID, PUSH_FCM, PUSH_APNS),
    send_queues=(PUSH_JOBS,),
    settings=(PushSettings,),
    timeout_seconds=60,
)

FEATURE = Feature(
    "notifications",
    functions=(NOTIFY_RETRY, PREFS_API, PUSH_API, PUSH_WORKER),
    http_routes=(
        HttpRoute("GET", "/api/prefs", PREFS_API),
        HttpRoute("PUT", "/api/prefs", PREFS_API),
        HttpRoute("POST", "/api/push/subscriptions", PUSH_API),
        HttpRoute("DELETE", "/api/push/subscriptions", PUSH_API),
        HttpRoute("GET", "/api/push/vapid-public-key", PUSH_API),
    ),
    queue_subscriptions=(
        QueueSubscription(PUSH_JOBS, PUSH_WORKER, batch_size=10),
        QueueSubscription(NOTIFICATION_RETRIES, NOTIFY_RETRY, batch_size=10),
    ),
)
