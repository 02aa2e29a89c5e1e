"""Presence's part of the application (docs/protocol.md, "Presence"): its frames, its timers,
the Presence stream consumer, and the grants every function that records presence needs."""

from __future__ import annotations

from pydantic import Field

from tidings.chats.models import MEMBERS
from tidings.kernel.declaration import (
    Access,
    Feature,
    Function,
    Queue,
    QueueSubscription,
    Route,
    StreamSubscription,
    Table,
)
from tidings.kernel.environment import FeatureSettings
from tidings.kernel.ephemeral import EPHEMERAL
from tidings.kernel.ratelimits import Rule
from tidings.presence.models import PRESENCE, PRESENCE_SUBSCRIPTIONS
from tidings.sessions.models import CONNECTION_RECORDS, CONNECTIONS


class PresenceSettings(FeatureSettings, prefix="PRESENCE_"):
    """The durations of docs/protocol.md "Presence", which tests and `tidings dev` shorten
    (`PRESENCE_IDLE_SECONDS`, `PRESENCE_UPDATE_INTERVAL_SECONDS`, `PRESENCE_SUBSCRIPTION_SECONDS`)."""

    idle_seconds: float = Field(300, gt=0)
    update_interval_seconds: float = Field(10, ge=0)
    subscription_seconds: int = Field(600, gt=0)


# Rate limits (docs/protocol.md, "Limits"): presence.update is coalesced rather than refused at
# this rate; each presence.subscribe writes up to 100 subscriptions, so it is limited.
PRESENCE_UPDATES = Rule("presence", capacity=1, refill_per_second=0.1)
PRESENCE_SUBSCRIBE = Rule("presence-subscribe", capacity=5, refill_per_second=0.5)  # 5 per 10 s

PRESENCE_FAILURES = Queue("PresenceFailures")
# Presence timers: each online period's idle check (re-arming itself) and coalesced updates.
PRESENCE_TIMERS = Queue("PresenceTimers", visibility_timeout_seconds=30, dead_letter_after=5)

# What a function that records presence needs (`$connect`, `$disconnect`, and the functions that
# serve activity frames, `tidings.presence.activity`): read-write on Presence, and the timer
# queue, since a user seen active while presence thought them gone starts an online period.
PRESENCE_RECORDING: tuple[tuple[Table, Access], ...] = ((PRESENCE, "read_write"),)
PRESENCE_RECORDING_QUEUES = (PRESENCE_TIMERS,)
PRESENCE_RECORDING_SETTINGS = (PresenceSettings,)

PRESENCE_FRAMES = Function(
    "PresenceFrames",
    "presence",
    "presence_frames.handler",
    "presence.update (coalesced), presence.subscribe (ack, then the snapshot), presence.unsubscribe",
    tables=(
        (PRESENCE, "read_write"),
        (PRESENCE_SUBSCRIPTIONS, "read_write"),
        (EPHEMERAL, "read_write"),
        (MEMBERS, "read"),  # presence.subscribe: only users the subscriber shares a chat with
    ),
    send_queues=(PRESENCE_TIMERS,),
    settings=(PresenceSettings,),
    manages_connections=True,  # the subscribe snapshot follows its ack
    timeout_seconds=30,
)
PRESENCE_TIMERS_FUNCTION = Function(
    "PresenceTimerHandler",
    "presence",
    "presence_timers.handler",
    "Presence timers: away after the idle time, coalesced presence.update applied",
    tables=((PRESENCE, "read_write"), (CONNECTIONS, "read")),
    send_queues=(PRESENCE_TIMERS,),
    settings=(PresenceSettings,),
)
PRESENCE_CHANGES = Function(
    "PresenceChanges",
    "presence",
    "changes_consumer.handler",
    "Presence stream consumer: presence.changed to each changed user's subscribers (2 s batches)",
    tables=((PRESENCE_SUBSCRIPTIONS, "read"), *CONNECTION_RECORDS),
    manages_connections=True,
    timeout_seconds=30,
)

FEATURE = Feature(
    "presence",
    functions=(PRESENCE_FRAMES, PRESENCE_TIMERS_FUNCTION, PRESENCE_CHANGES),
    routes=(
        Route("presence.update", PRESENCE_FRAMES),
        Route("presence.subscribe", PRESENCE_FRAMES),
        Route("presence.unsubscribe", PRESENCE_FRAMES),
    ),
    stream_subscriptions=(
        StreamSubscription(
            PRESENCE,
            PRESENCE_CHANGES,
            on_failure=PRESENCE_FAILURES,
            batch_size=100,
            max_batching_window_seconds=2,  # changes are batched over 2 s windows (docs/protocol.md)
            retry_attempts=2,
            max_record_age_seconds=60,  # a presence change older than this is stale news
            event_names=("INSERT", "MODIFY"),
        ),
    ),
    queue_subscriptions=(QueueSubscription(PRESENCE_TIMERS, PRESENCE_TIMERS_FUNCTION, batch_size=10),),
)
