"""Construction of messaging's services, from a function's environment. The directory's ports
(display names, members), the @connections poster and the rate limiter are passed in by the
handler that composes them.

Each builder imports the services it builds, so a function loads the modules of what it builds
and no other (`tests/infrastructure/test_cold_start_imports.py`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tidings.chats.models import CHATS, MEMBERS
from tidings.kernel import connections_api
from tidings.kernel.delay_queue import DelayQueue
from tidings.kernel.environment import Environment
from tidings.kernel.ephemeral import EPHEMERAL
from tidings.messaging.declaration import FANOUT_SHARDS, TYPING_TIMERS
from tidings.messaging.models import IDEMPOTENCY, MESSAGES

if TYPE_CHECKING:
    from tidings.chats.directory import MemberDirectory
    from tidings.kernel.connections_api import ConnectionDirectory, ConnectionPoster, Deliveries, Redelivery
    from tidings.kernel.ratelimits import RateLimiter
    from tidings.messaging.chat_events import ChatEventService, MessageErasure
    from tidings.messaging.fanout import Fanout
    from tidings.messaging.fanout_shards import MessageShard
    from tidings.messaging.history import HistoryMembers, HistoryService
    from tidings.messaging.message_store import AttachmentMarks, DynamoMessageStore
    from tidings.messaging.receipts import ReadService
    from tidings.messaging.retention import RetentionSweep
    from tidings.messaging.sending import MessageAttachments, MessageService, UserDirectory
    from tidings.messaging.summary_mode import DynamoMessageRates
    from tidings.messaging.syncing import SyncService
    from tidings.messaging.typing_indicators import MembershipCheck, TypingService
    from tidings.messaging.typing_store import DynamoTypingStateStore


def message_store(environment: Environment, attachments: AttachmentMarks | None = None) -> DynamoMessageStore:
    """The chat event log, with the chats' seq counters and the members' watermarks (and the
    attachments' sent marks, for message.send)."""
    from tidings.messaging.message_store import DynamoMessageStore

    environment.require(MESSAGES)
    return DynamoMessageStore(attachments)


def message_sending(
    environment: Environment,
    *,
    users: UserDirectory,
    limiter: RateLimiter,
    attachments: MessageAttachments | None = None,
) -> MessageService:
    """`attachments`: the attachments feature's port (without it, a message with attachments is
    UNAVAILABLE)."""
    from tidings.messaging.sending import MessageService

    environment.require(CHATS, MEMBERS)
    return MessageService(
        message_store(environment, attachments), users, limiter, now=time.time, attachments=attachments
    )


def chat_events(
    environment: Environment,
    *,
    users: UserDirectory,
    limiter: RateLimiter,
    attachments: AttachmentMarks | None = None,
) -> ChatEventService:
    """`message.edit`, `message.delete`, `message.react`; a delete deletes the message's
    `attachments` (the attachments feature's port)."""
    from tidings.messaging.chat_events import ChatEventService

    environment.require(CHATS, MEMBERS)
    return ChatEventService(message_store(environment, attachments), users, limiter, now=time.time)


def message_erasure(
    environment: Environment, *, actor_id: str, actor_name: str, attachments: AttachmentMarks | None = None
) -> MessageErasure:
    """A user's messages, deleted for their erasure, as `actor_id` (the platform), with their
    `attachments`."""
    from tidings.messaging.chat_events import MessageErasure

    environment.require(CHATS, IDEMPOTENCY)
    return MessageErasure(message_store(environment, attachments), actor_id, actor_name, now=time.time)


def retention_sweep(
    environment: Environment, *, actor_id: str, actor_name: str, attachments: AttachmentMarks
) -> RetentionSweep:
    """The retention sweep: deletes as `actor_id` (the platform), with the messages'
    `attachments`, and the deployment's default retention."""
    from tidings.messaging.declaration import RetentionSettings
    from tidings.messaging.retention import RetentionSweep
    from tidings.messaging.retention_store import DynamoRetentionStore

    messages = message_erasure(environment, actor_id=actor_id, actor_name=actor_name, attachments=attachments)
    return RetentionSweep(DynamoRetentionStore(), messages, environment.settings(RetentionSettings).days)


def read_marks(environment: Environment) -> ReadService:
    from tidings.messaging.receipts import ReadService

    environment.require(MEMBERS)
    return ReadService(message_store(environment))


def delivery_retries(environment: Environment) -> DelayQueue[Redelivery]:
    """The delivery retry queue (docs/architecture.md "Fan-out"), jobs cut to fit SQS."""
    return connections_api.delivery_retries(environment)


def deliveries(environment: Environment, *, poster: ConnectionPoster, connections: ConnectionDirectory) -> Deliveries:
    """The loop of the delivery retry function and the fan-out workers: posts, re-enqueues what fails."""
    return connections_api.Deliveries(poster, connections, delivery_retries(environment))


def fanout(
    environment: Environment,
    *,
    poster: ConnectionPoster,
    members: MemberDirectory,
    connections: ConnectionDirectory,
    sharded: bool = False,
) -> Fanout:
    """Chat events, receipts: a connection that fails is retried through the delivery retry
    queue; `sharded` (the Delivery consumer), a big chat's audience goes to the fan-out workers
    in shards (docs/architecture.md "Fan-out")."""
    from tidings.messaging.fanout import Fanout

    shards = fanout_shards(environment) if sharded else None
    return Fanout(members, connections, poster, delivery_retries(environment), shards)


def fanout_shards(environment: Environment) -> DelayQueue[Redelivery]:
    """The big chats' shard queue, jobs cut to fit SQS."""
    from tidings.messaging.fanout_shards import SHARD_JOBS

    return DelayQueue(environment.queue_url(FANOUT_SHARDS), SHARD_JOBS, split=connections_api.split_to_fit)


def message_shards(environment: Environment) -> DelayQueue[MessageShard]:
    """A big chat's new messages, in shards of its members, on the same queue (the fan-out
    workers tell the two kinds of job apart)."""
    from tidings.messaging.fanout_shards import MESSAGE_SHARDS, halved_to_fit

    return DelayQueue(environment.queue_url(FANOUT_SHARDS), MESSAGE_SHARDS, split=halved_to_fit)


def message_rates(environment: Environment) -> DynamoMessageRates:
    """Big chats' messages per second, for summary mode (the Delivery consumer)."""
    from tidings.messaging.summary_mode import DynamoMessageRates

    environment.require(EPHEMERAL)
    return DynamoMessageRates()


def typing_state(environment: Environment) -> DynamoTypingStateStore:
    from tidings.messaging.typing_store import DynamoTypingStateStore

    environment.require(EPHEMERAL)
    return DynamoTypingStateStore()


def typing(
    environment: Environment,
    *,
    poster: ConnectionPoster,
    members: MemberDirectory,
    membership: MembershipCheck,
    users: UserDirectory,
    connections: ConnectionDirectory,
    limiter: RateLimiter,
) -> TypingService:
    """Typing indicators are not retried: a late `typing.indicator` could land after the stop
    that ends it, which is worse than none; a connection that fails misses it."""
    from tidings.messaging.fanout import Fanout
    from tidings.messaging.records import TYPING_TIMER_BODIES
    from tidings.messaging.typing_indicators import TypingService

    typing_fanout = Fanout(members, connections, poster)
    return TypingService(
        typing_state(environment),
        membership,
        users,
        limiter,
        DelayQueue(environment.queue_url(TYPING_TIMERS), TYPING_TIMER_BODIES),
        lambda: typing_fanout,
        now=time.time,
    )


def sync(environment: Environment, *, limiter: RateLimiter) -> SyncService:
    from tidings.messaging.sync_store import DynamoSyncStore
    from tidings.messaging.syncing import SyncService

    environment.require(CHATS, MEMBERS, MESSAGES)
    return SyncService(DynamoSyncStore(), rate_limiter=limiter)


def history(environment: Environment, *, members: HistoryMembers) -> HistoryService:
    from tidings.messaging.history import HistoryService

    return HistoryService(message_store(environment), members)
