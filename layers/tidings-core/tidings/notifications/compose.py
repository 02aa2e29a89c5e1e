"""Construction of notifications' services, from a function's environment. The directory's and
presence's ports, the connections and the @connections poster are passed in by the handler.

The push senders import their HTTP clients (pywebpush, httpx) only when the push worker builds
them, and the VAPID key pair (py_vapid, cryptography) is imported by what reads it (the push
API, the push worker): no other function loads them. Every other builder imports the services
it builds as well (`tests/infrastructure/test_cold_start_imports.py`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tidings.chats.models import MEMBERS, USERS
from tidings.kernel import connections_api
from tidings.kernel.delay_queue import DelayQueue
from tidings.kernel.environment import Environment
from tidings.kernel.ephemeral import EPHEMERAL
from tidings.kernel.secret_values import secret_reader
from tidings.notifications.declaration import (
    NOTIFICATION_RETRIES,
    PUSH_APNS,
    PUSH_FCM,
    PUSH_JOBS,
    PUSH_VAPID,
    PushSettings,
)
from tidings.notifications.models import PUSH_SUBSCRIPTIONS

if TYPE_CHECKING:
    from tidings.chats.directory import MemberDirectory
    from tidings.kernel.connections_api import ConnectionPoster
    from tidings.notifications.badge_store import DynamoBadgeStore
    from tidings.notifications.badges import BadgeService, Connections
    from tidings.notifications.notifying import (
        ChatDirectory,
        ChatEventNotifications,
        NotificationService,
        PresenceLookup,
    )
    from tidings.notifications.preference_store import DynamoPreferenceStore
    from tidings.notifications.push_delivery import PushDelivery, PushJob, PushSender
    from tidings.notifications.push_senders import ConfiguredSenders, SecretReader
    from tidings.notifications.push_store import DynamoSubscriptionStore
    from tidings.notifications.records import NotificationRetry
    from tidings.notifications.vapid import VapidConfig

# Push credentials are cached this long, so a newly configured platform is picked up within it.
PUSH_SECRET_MAX_AGE_SECONDS = 300


def badge_store(environment: Environment) -> DynamoBadgeStore:
    from tidings.notifications.badge_store import DynamoBadgeStore

    environment.require(MEMBERS, USERS)
    return DynamoBadgeStore()


def preference_store(environment: Environment) -> DynamoPreferenceStore:
    from tidings.notifications.preference_store import DynamoPreferenceStore

    environment.require(USERS)
    return DynamoPreferenceStore()


def push_jobs(environment: Environment) -> DelayQueue[PushJob]:
    from tidings.notifications.records import PUSH_JOB_BODIES

    return DelayQueue(environment.queue_url(PUSH_JOBS), PUSH_JOB_BODIES)


def _retries(environment: Environment) -> Callable[[], DelayQueue]:  # type: ignore[type-arg]
    return lambda: connections_api.delivery_retries(environment)


def notification_retries(environment: Environment) -> DelayQueue[NotificationRetry]:
    """Where the Delivery consumer puts the chat events whose notification work failed."""
    from tidings.notifications.records import NOTIFICATION_RETRY_BODIES

    return DelayQueue(environment.queue_url(NOTIFICATION_RETRIES), NOTIFICATION_RETRY_BODIES)


def badge_service(environment: Environment, *, poster: ConnectionPoster, connections: Connections) -> BadgeService:
    """Recounts and `notification.badge`; failed posts go to the delivery retry queue."""
    from tidings.notifications.badges import BadgeService

    return BadgeService(badge_store(environment), connections, lambda: poster, retries=_retries(environment))


def badge_reader(environment: Environment, *, connections: Connections) -> BadgeService:
    """The stored badges only (sync): it posts nothing."""
    from tidings.notifications.badges import BadgeService

    def no_poster() -> ConnectionPoster:
        raise RuntimeError(f"function {environment.function.id} only reads badges")

    return BadgeService(badge_store(environment), connections, no_poster)


def notification_service(
    environment: Environment,
    *,
    poster: ConnectionPoster,
    members: MemberDirectory,
    connections: Connections,
    presence: PresenceLookup,
    chats: ChatDirectory,
) -> NotificationService:
    """The notification pipeline: `presence` answers DND, `chats` names the chat in a toast."""
    from tidings.notifications.notifying import NotificationService
    from tidings.notifications.toast_store import DynamoToastGroups

    environment.require(EPHEMERAL)
    return NotificationService(
        badges=badge_store(environment),
        members=members,
        connections=connections,
        preferences=preference_store(environment),
        presence=presence,
        chats=chats,
        toast_groups=DynamoToastGroups(),
        push=push_jobs(environment),
        poster=lambda: poster,
        now=time.time,
        retries=_retries(environment),
    )


def chat_event_notifications(
    environment: Environment,
    *,
    poster: ConnectionPoster,
    members: MemberDirectory,
    connections: Connections,
    presence: PresenceLookup,
    chats: ChatDirectory,
) -> ChatEventNotifications:
    """What the Delivery consumer and the notification retry do with a chat event."""
    from tidings.notifications.notifying import ChatEventNotifications

    service = notification_service(
        environment, poster=poster, members=members, connections=connections, presence=presence, chats=chats
    )
    return ChatEventNotifications(service, badge_service(environment, poster=poster, connections=connections))


def push_subscriptions(environment: Environment) -> DynamoSubscriptionStore:
    from tidings.notifications.push_store import DynamoSubscriptionStore

    environment.require(PUSH_SUBSCRIPTIONS)
    return DynamoSubscriptionStore()


def _secret_reader(arn: str) -> SecretReader:
    return secret_reader(arn, PUSH_SECRET_MAX_AGE_SECONDS)


def vapid_config(environment: Environment) -> VapidConfig | None:
    """The VAPID key pair, or None while the deployment has not configured one."""
    from tidings.notifications.vapid import VapidConfig

    return VapidConfig.from_secret(_secret_reader(environment.secret_arn(PUSH_VAPID))())


def push_delivery(environment: Environment) -> PushDelivery:
    """The push worker's logic, with a sender per configured platform."""
    from tidings.notifications.push_delivery import PushDelivery

    settings = environment.settings(PushSettings)
    return PushDelivery(
        push_subscriptions(environment),
        _senders(environment, settings.allow_loopback_http),
        push_jobs(environment),
        retry_base_seconds=settings.retry_base_seconds,
    )


def _senders(environment: Environment, allow_loopback_http: bool) -> ConfiguredSenders:
    from tidings.notifications.apns import ApnsConfig, ApnsSender
    from tidings.notifications.fcm import FcmConfig, FcmSender
    from tidings.notifications.push_senders import ConfiguredSenders
    from tidings.notifications.vapid import VapidConfig
    from tidings.notifications.webpush import WebPushSender

    def web_push(raw: str | None) -> PushSender | None:
        config = VapidConfig.from_secret(raw)
        return WebPushSender(config, allow_loopback_http=allow_loopback_http) if config else None

    def fcm(raw: str | None) -> PushSender | None:
        config = FcmConfig.from_secret(raw)
        return FcmSender(config) if config else None

    def apns(raw: str | None) -> PushSender | None:
        config = ApnsConfig.from_secret(raw)
        return ApnsSender(config) if config else None

    return ConfiguredSenders(
        {
            "webpush": _secret_reader(environment.secret_arn(PUSH_VAPID)),
            "fcm": _secret_reader(environment.secret_arn(PUSH_FCM)),
            "apns": _secret_reader(environment.secret_arn(PUSH_APNS)),
        },
        {"webpush": web_push, "fcm": fcm, "apns": apns},
    )
