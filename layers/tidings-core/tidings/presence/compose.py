"""Construction of presence's services, from a function's environment. The @connections
poster, the connections' ports and the rate limiter are passed in by the handler.

Each builder imports the services it builds, so a function loads the modules of what it builds
and no other (`tests/infrastructure/test_cold_start_imports.py`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

from tidings.chats.models import MEMBERS
from tidings.kernel.delay_queue import DelayQueue
from tidings.kernel.environment import Environment
from tidings.presence.declaration import PRESENCE_TIMERS, PresenceSettings
from tidings.presence.machine import PresenceTimings
from tidings.presence.models import PRESENCE, PRESENCE_SUBSCRIPTIONS

if TYPE_CHECKING:
    from tidings.chats.directory import DynamoSharedChats
    from tidings.kernel.connections_api import ConnectionDirectory, ConnectionPoster
    from tidings.kernel.ratelimits import RateLimiter
    from tidings.presence.machine import PresenceTimer
    from tidings.presence.presence_fanout import PresenceFanout
    from tidings.presence.presence_service import (
        ConnectionLiveness,
        PresenceService,
        PresenceVisibility,
        SubscriptionStore,
    )
    from tidings.presence.presence_store import DynamoPresenceStore, DynamoPresenceSubscriptions
    from tidings.presence.subscription_ends import SubscriptionEnds


def presence_store(environment: Environment) -> DynamoPresenceStore:
    """Also notifications' DND lookup: `statuses(user_ids)`."""
    from tidings.presence.presence_store import DynamoPresenceStore

    environment.require(PRESENCE)
    return DynamoPresenceStore()


def subscriptions(environment: Environment) -> DynamoPresenceSubscriptions:
    from tidings.presence.presence_store import DynamoPresenceSubscriptions

    environment.require(PRESENCE_SUBSCRIPTIONS)
    return DynamoPresenceSubscriptions()


def timings(environment: Environment) -> PresenceTimings:
    settings = environment.settings(PresenceSettings)
    return PresenceTimings(
        idle_seconds=settings.idle_seconds,
        update_interval_seconds=settings.update_interval_seconds,
        subscription_seconds=settings.subscription_seconds,
    )


def timer_queue(environment: Environment) -> DelayQueue[PresenceTimer]:
    from tidings.presence.records import PRESENCE_TIMER_BODIES

    return DelayQueue(environment.queue_url(PRESENCE_TIMERS), PRESENCE_TIMER_BODIES)


def presence_service(
    environment: Environment,
    *,
    liveness: ConnectionLiveness | None = None,
    limiter: RateLimiter | None = None,
    visibility: PresenceVisibility | None = None,
) -> PresenceService:
    """The timer queue is resolved only when a timer is armed; `liveness` sweeps connections
    whose `$disconnect` was lost (the timer function), `limiter` bounds `presence.subscribe`,
    `visibility` (`shared_chats`) limits it to users the subscriber shares a chat with."""
    from tidings.presence.presence_service import PresenceService, SubscriptionStore

    store = presence_store(environment)
    watched: SubscriptionStore = (
        subscriptions(environment)
        if PRESENCE_SUBSCRIPTIONS in dict(environment.function.tables)
        else cast(SubscriptionStore, _NoSubscriptions())
    )
    return PresenceService(
        store,
        watched,
        lambda: timer_queue(environment),
        timings(environment),
        liveness=liveness,
        now=time.time,
        rate_limiter=limiter,
        visibility=visibility,
    )


def subscription_ends(environment: Environment) -> SubscriptionEnds:
    """Ends the presence subscriptions a user's leaving a chat took away the reason for."""
    from tidings.presence.subscription_ends import SubscriptionEnds

    return SubscriptionEnds(subscriptions(environment), shared_chats(environment), now=time.time)


def shared_chats(environment: Environment) -> DynamoSharedChats:
    """Whose presence a subscriber may watch: users it shares a chat with (Members, read)."""
    from tidings.chats.directory import DynamoSharedChats

    environment.require(MEMBERS)
    return DynamoSharedChats()


class _NoSubscriptions:
    """For the functions that only record presence: they never subscribe or read subscriptions."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"this function has no PresenceSubscriptions grant ({name})")


def presence_fanout(
    environment: Environment, *, poster: ConnectionPoster, connections: ConnectionDirectory
) -> PresenceFanout:
    from tidings.presence.presence_fanout import PresenceFanout

    return PresenceFanout(subscriptions(environment), connections, poster, now=time.time)
