"""Messaging's part of the application (docs/protocol.md, "Messages", "Typing and receipts",
"Sync"): sending and changing messages, the Delivery consumer (fan-out, then the notifications)
and its delivery retries, typing, read receipts, sync and history."""

from __future__ import annotations

from pydantic import Field

from tidings.attachments.declaration import DELETING_ATTACHMENTS, DELETING_FILES, SENDING_ATTACHMENTS, SENDING_FILES
from tidings.chats.models import CHATS, MAX_RETENTION_DAYS, MEMBERS, USERS
from tidings.kernel.connections_api import DELIVERY_RETRIES
from tidings.kernel.declaration import (
    Access,
    Feature,
    Function,
    HttpRoute,
    Queue,
    QueueSubscription,
    Route,
    Schedule,
    StreamSubscription,
    Table,
    combined_grants,
)
from tidings.kernel.environment import FeatureSettings
from tidings.kernel.ephemeral import EPHEMERAL
from tidings.kernel.ratelimits import Rule
from tidings.messaging.models import AUDIT, IDEMPOTENCY, MESSAGES
from tidings.notifications.declaration import NOTIFICATION_RETRIES, NOTIFYING, NOTIFYING_QUEUES
from tidings.presence.declaration import (
    PRESENCE_RECORDING,
    PRESENCE_RECORDING_QUEUES,
    PRESENCE_RECORDING_SETTINGS,
    PresenceSettings,
)
from tidings.presence.models import PRESENCE, PRESENCE_SUBSCRIPTIONS
from tidings.sessions.declaration import JWT_SIGNING_KEY, TOKEN_VERIFICATION_SETTINGS
from tidings.sessions.models import CONNECTION_RECORDS


class RetentionSettings(FeatureSettings, prefix="RETENTION_"):
    """The deployment's default retention (`RETENTION_DAYS`; CDK context `retentionDays`): days a
    message is kept in a chat that sets none of its own. 0 keeps messages forever."""

    days: int = Field(0, ge=0, le=MAX_RETENTION_DAYS)


# Rate limits (docs/protocol.md, "Limits"), each a token bucket per user (typing: per user and chat).
MESSAGE_WRITES = Rule("message", capacity=10, refill_per_second=10)  # send, edit, delete, react
URGENT = Rule("urgent", capacity=3, refill_per_second=3 / 3600)
TYPING_STARTS = Rule("typing", capacity=1, refill_per_second=1)
READ_MARKS = Rule("read", capacity=5, refill_per_second=5)
# Each sync.request reads up to 100 chats, so it may not run unbounded.
SYNC_REQUESTS = Rule("sync", capacity=10, refill_per_second=10)

DELIVERY_FAILURES = Queue("DeliveryFailures")
RECEIPTS_FAILURES = Queue("ReceiptsFailures")
# A big chat's fan-out in shards (`fanout_shards`): each job is up to 250 connections and the
# frames they are owed, or a new message's 100 members, posted by a fan-out worker. Visibility
# is 6x the worker's timeout; a job the worker cannot process at all is parked in the DLQ
# (which alarms) after 3 receives.
FANOUT_SHARDS = Queue("FanoutShards", visibility_timeout_seconds=180, dead_letter_after=3, carries_frames=True)
# Typing expiry timers: each message carries its own delay (SQS allows up to 15 minutes).
TYPING_TIMERS = Queue("TypingTimers", visibility_timeout_seconds=30, dead_letter_after=3)

MESSAGE_SEND = Function(
    "MessageSend",
    "messaging",
    "message_send.handler",
    "message.send: authorize, allocate seq, write idempotently, ack",
    tables=(
        (MEMBERS, "read_write"),  # the sender's read watermark moves to their message
        (USERS, "read"),
        (CHATS, "read_write"),
        (MESSAGES, "read_write"),
        (IDEMPOTENCY, "read_write"),
        (EPHEMERAL, "read_write"),
        (AUDIT, "write"),  # urgent messages
        SENDING_ATTACHMENTS,  # checked, then marked sent in the message's transaction
        *PRESENCE_RECORDING,
    ),
    buckets=(SENDING_FILES,),  # a sent attachment's file leaves the unsent uploads' expiry
    send_queues=PRESENCE_RECORDING_QUEUES,
    settings=PRESENCE_RECORDING_SETTINGS,
)
MESSAGE_EVENTS = Function(
    "MessageEvents",
    "messaging",
    "chat_event_frames.handler",
    "message.edit, message.delete, message.react: each change a chat event with its own seq",
    tables=(
        (MEMBERS, "read"),
        (USERS, "read"),
        (CHATS, "read_write"),
        (MESSAGES, "read_write"),
        (IDEMPOTENCY, "read_write"),
        (EPHEMERAL, "read_write"),
        DELETING_ATTACHMENTS,  # a delete deletes the message's attachments
        *PRESENCE_RECORDING,
    ),
    buckets=(DELETING_FILES,),
    send_queues=PRESENCE_RECORDING_QUEUES,
    settings=PRESENCE_RECORDING_SETTINGS,
)
# The Messages stream's first reader (the search indexer is the second; a stream takes two):
# fan-out to the members' connections, then, with the members and connections it read, the
# notifications (docs/architecture.md "Fan-out" and "Notifications"). Notification work that
# fails goes to its own retry queue, so it never makes the stream re-deliver the frames.
DELIVERY = Function(
    "Delivery",
    "messaging",
    "delivery_consumer.handler",
    "Messages stream consumer: chat events to every member's connections, then badges, toasts and push jobs",
    tables=combined_grants(
        (
            (MEMBERS, "read"),
            (MESSAGES, "read"),
            (USERS, "read"),
            (EPHEMERAL, "read_write"),  # sending a message ends the sender's typing
            # A removal ends the presence subscriptions only the chat allowed.
            (PRESENCE_SUBSCRIPTIONS, "read_write"),
            *CONNECTION_RECORDS,
        ),
        NOTIFYING,
    ),
    send_queues=(*NOTIFYING_QUEUES, NOTIFICATION_RETRIES, FANOUT_SHARDS),
    manages_connections=True,
    timeout_seconds=30,
)
FANOUT_WORKER = Function(
    "FanoutWorker",
    "messaging",
    "fanout_worker.handler",
    "Posts one shard of a big chat's fan-out (up to 250 connections, or a new message's 100 members"
    " with their notification work); failed connections to the retry queue",
    tables=combined_grants(CONNECTION_RECORDS, NOTIFYING),
    send_queues=(*NOTIFYING_QUEUES, NOTIFICATION_RETRIES),
    manages_connections=True,
    timeout_seconds=30,
)
DELIVERY_RETRY = Function(
    "DeliveryRetry",
    "messaging",
    "delivery_retries.handler",
    "Posts frames again to the connections that could not take them, with backoff; gives up after the last try",
    tables=CONNECTION_RECORDS,
    send_queues=(DELIVERY_RETRIES,),
    manages_connections=True,
    timeout_seconds=30,
)
_TYPING_TABLES: tuple[tuple[Table, Access], ...] = (
    (MEMBERS, "read"),
    (USERS, "read"),
    (EPHEMERAL, "read_write"),
    *CONNECTION_RECORDS,
)
TYPING = Function(
    "Typing",
    "messaging",
    "typing_frames.handler",
    "typing.start, typing.stop: forwarded to the other members, throttled, never stored durably",
    tables=_TYPING_TABLES + PRESENCE_RECORDING,
    settings=PRESENCE_RECORDING_SETTINGS,
    send_queues=(TYPING_TIMERS, *PRESENCE_RECORDING_QUEUES),
    manages_connections=True,
)
TYPING_EXPIRY = Function(
    "TypingExpiry",
    "messaging",
    "typing_timers.handler",
    "Typing timers: reports a typer stopped 5 s after the last typing.start",
    tables=_TYPING_TABLES,
    send_queues=(TYPING_TIMERS,),
    manages_connections=True,
)
READ_MARK = Function(
    "ReadMark",
    "messaging",
    "read_mark.handler",
    "read.mark: moves the reader's watermark forward",
    tables=((MEMBERS, "read_write"), (MESSAGES, "read"), *PRESENCE_RECORDING),
    settings=PRESENCE_RECORDING_SETTINGS,
    send_queues=PRESENCE_RECORDING_QUEUES,
)
RECEIPTS = Function(
    "Receipts",
    "messaging",
    "receipts_consumer.handler",
    "Members stream consumer: read.receipt to the other members (coalesced per batch), and the reader's badge",
    tables=((MEMBERS, "read_write"), (MESSAGES, "read"), (USERS, "read_write"), *CONNECTION_RECORDS),
    send_queues=(DELIVERY_RETRIES,),
    manages_connections=True,
    timeout_seconds=30,
)
SYNC = Function(
    "Sync",
    "messaging",
    "sync_request.handler",
    "sync.request: replays the chat events a client missed (one chat or all), with badges and presence",
    tables=(
        (CHATS, "read"),
        (MEMBERS, "read"),
        (MESSAGES, "read"),
        (USERS, "read"),
        (PRESENCE, "read"),
        (PRESENCE_SUBSCRIPTIONS, "read"),
        (EPHEMERAL, "read_write"),  # rate limit
    ),
    settings=(PresenceSettings,),  # the subscribed users' presence
)
HISTORY_API = Function(
    "HistoryApi",
    "messaging",
    "history_api.handler",
    "GET /api/chats/{chatId}/messages: a chat's message history, newest first",
    tables=((MEMBERS, "read"), (MESSAGES, "read"), (USERS, "read")),  # Users: revokedBefore
    secrets=(JWT_SIGNING_KEY,),
    settings=TOKEN_VERIFICATION_SETTINGS,
)
# Deletes what is older than its chat's retention, through the same delete as a sender's
# (`tidings.messaging.retention`); hourly, carrying on next hour where a run ran out of time.
RETENTION_SWEEP = Function(
    "RetentionSweep",
    "messaging",
    "retention_sweep.handler",
    "Scheduled: deletes the messages older than their chat's retentionDays (or the deployment's)",
    tables=(
        (CHATS, "read_write"),  # the chats by type, each delete's seq, the sweep's mark
        (MESSAGES, "read_write"),  # each chat's log, each delete and its event
        (IDEMPOTENCY, "read_write"),  # each delete's claim: two overlapping runs delete once
        DELETING_ATTACHMENTS,  # a delete deletes the message's attachments
    ),
    buckets=(DELETING_FILES,),
    settings=(RetentionSettings,),
    timeout_seconds=300,
)
RETENTION_FAILURES = Queue("RetentionSweepFailures")
RETENTION_SCHEDULE = Schedule("RetentionSweepHourly", RETENTION_SWEEP, rate_seconds=3600, on_failure=RETENTION_FAILURES)

FEATURE = Feature(
    "messaging",
    functions=(
        MESSAGE_SEND,
        MESSAGE_EVENTS,
        DELIVERY,
        DELIVERY_RETRY,
        FANOUT_WORKER,
        TYPING,
        TYPING_EXPIRY,
        READ_MARK,
        RECEIPTS,
        SYNC,
        HISTORY_API,
        RETENTION_SWEEP,
    ),
    routes=(
        Route("message.send", MESSAGE_SEND),
        Route("message.edit", MESSAGE_EVENTS),
        Route("message.delete", MESSAGE_EVENTS),
        Route("message.react", MESSAGE_EVENTS),
        Route("typing.start", TYPING),
        Route("typing.stop", TYPING),
        Route("read.mark", READ_MARK),
        Route("sync.request", SYNC),
    ),
    http_routes=(HttpRoute("GET", "/api/chats/{chatId}/messages", HISTORY_API),),
    stream_subscriptions=(
        # Four batches per stream shard at once, each chat's events in one of them in order: a
        # chat never waits behind another chat's slow record (a big chat's audience read, say).
        StreamSubscription(
            MESSAGES, DELIVERY, on_failure=DELIVERY_FAILURES, event_names=("INSERT",), parallelization_factor=4
        ),
        StreamSubscription(
            MEMBERS,
            RECEIPTS,
            on_failure=RECEIPTS_FAILURES,
            max_batching_window_seconds=1,  # coalesces bursts of read.mark (docs/protocol.md, "Limits")
            event_names=("MODIFY",),
        ),
    ),
    queue_subscriptions=(
        QueueSubscription(TYPING_TIMERS, TYPING_EXPIRY, batch_size=10),
        QueueSubscription(DELIVERY_RETRIES, DELIVERY_RETRY, batch_size=10),
        # One shard an invocation: the shards of one message run in parallel, one worker each.
        QueueSubscription(FANOUT_SHARDS, FANOUT_WORKER, batch_size=1),
    ),
    schedules=(RETENTION_SCHEDULE,),
)
