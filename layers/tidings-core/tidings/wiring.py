"""The composition root: builds services from settings once per Lambda container.

Handlers ask for what they need here; tests build the same services with fakes instead.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities import parameters

from tidings.chats.chat_list import ChatService
from tidings.chats.directory import (
    CachedChatDirectory,
    DynamoMemberDirectory,
    DynamoSearchDirectory,
    DynamoUserDirectory,
)
from tidings.chats.store import DynamoChatStore
from tidings.kernel.connections_api import ApiGatewayPoster, Deliveries
from tidings.kernel.delay_queue import SqsDeliveryRetries
from tidings.kernel.ratelimits import DynamoBucketStore, RateLimiter
from tidings.messaging.chat_events import ChatEventService
from tidings.messaging.fanout import Fanout
from tidings.messaging.message_store import DynamoMessageStore
from tidings.messaging.receipts import ReadService
from tidings.messaging.sending import MessageService
from tidings.messaging.sync_store import DynamoSyncStore
from tidings.messaging.syncing import SyncService
from tidings.messaging.typing_indicators import TypingService
from tidings.messaging.typing_queue import SqsTypingTimers
from tidings.messaging.typing_store import DynamoTypingStateStore
from tidings.notifications.apns import ApnsConfig, ApnsSender
from tidings.notifications.badge_store import DynamoBadgeStore
from tidings.notifications.badges import BadgeService
from tidings.notifications.fcm import FcmConfig, FcmSender
from tidings.notifications.notifying import NotificationService
from tidings.notifications.preference_store import DynamoPreferenceStore
from tidings.notifications.push_delivery import PushDelivery
from tidings.notifications.push_queue import SqsPushQueue
from tidings.notifications.push_senders import ConfiguredSenders, SecretReader
from tidings.notifications.push_store import DynamoSubscriptionStore
from tidings.notifications.toast_store import DynamoToastGroups
from tidings.notifications.vapid import VapidConfig
from tidings.notifications.webpush import WebPushSender
from tidings.presence.machine import PresenceTimings
from tidings.presence.presence_fanout import PresenceFanout
from tidings.presence.presence_service import PresenceService
from tidings.presence.store import DynamoPresenceStore, DynamoPresenceSubscriptions
from tidings.presence.timer_queue import SqsPresenceTimers
from tidings.search.catalog import DynamoMessageCatalog
from tidings.search.embedded import EmbeddedSearchEngine
from tidings.search.indexing import Reindexer, SearchIndexer
from tidings.search.port import SearchEngine
from tidings.search.searching import SearchService
from tidings.search.searching import utc_now as search_clock
from tidings.sessions.connection_store import DynamoConnectionLiveness, DynamoConnectionStore
from tidings.sessions.connections import Disconnector
from tidings.sessions.credentials import CredentialService
from tidings.sessions.session_service import SessionService, TokenVerifier
from tidings.sessions.token_expiry import TokenTimerService
from tidings.sessions.token_queue import SqsTokenTimers
from tidings.sessions.token_store import DynamoRefreshTokenStore, DynamoRevocations
from tidings.settings import settings

# The signing key is cached by Powertools for this long, so a rotation lands within minutes.
SIGNING_KEY_MAX_AGE_SECONDS = 300


def signing_key() -> str:
    secret_id = settings().jwt_secret_arn
    if not secret_id:
        raise RuntimeError("JWT_SIGNING_KEY_SECRET_ARN is not set: the authorizer cannot verify tokens")
    return str(parameters.get_secret(secret_id, max_age=SIGNING_KEY_MAX_AGE_SECONDS))


@cache
def connection_store() -> DynamoConnectionStore:
    return DynamoConnectionStore()


@cache
def rate_limiter() -> RateLimiter:
    return RateLimiter(DynamoBucketStore(), now=time.time)


@cache
def message_store() -> DynamoMessageStore:
    return DynamoMessageStore()


@cache
def user_directory() -> DynamoUserDirectory:
    return DynamoUserDirectory()


@cache
def message_service() -> MessageService:
    return MessageService(message_store(), user_directory(), rate_limiter(), now=time.time)


@cache
def chat_event_service() -> ChatEventService:
    return ChatEventService(message_store(), user_directory(), rate_limiter(), now=time.time)


@cache
def poster() -> ApiGatewayPoster:
    url = settings().websocket_callback_url
    if not url:
        raise RuntimeError("WEBSOCKET_CALLBACK_URL is not set: cannot reach the @connections API")
    return ApiGatewayPoster(url)


@cache
def delivery_retries() -> SqsDeliveryRetries:
    queue_url = settings().delivery_retries_queue_url
    if not queue_url:
        raise RuntimeError("DELIVERY_RETRIES_QUEUE_URL is not set: failed deliveries cannot be retried")
    return SqsDeliveryRetries(queue_url)


def deliveries() -> Deliveries:
    """For the delivery retry function (docs/architecture.md "Fan-out")."""
    return Deliveries(poster(), connection_store(), delivery_retries())


@cache
def badge_service() -> BadgeService:
    return BadgeService(DynamoBadgeStore(), connection_store(), poster, retries=delivery_retries)


# --- notifications (PROTOCOL.md §7) ---------------------------------------------------------


@cache
def preference_store() -> DynamoPreferenceStore:
    return DynamoPreferenceStore()


@cache
def notification_service() -> NotificationService:
    return NotificationService(
        badges=DynamoBadgeStore(),
        members=DynamoMemberDirectory(),
        connections=connection_store(),
        preferences=preference_store(),
        presence=presence_store(),  # DND (seed §3.2)
        chats=CachedChatDirectory(),
        toast_groups=DynamoToastGroups(),
        push=push_queue(),
        poster=poster,
        now=time.time,
        retries=delivery_retries,
    )


@cache
def read_service() -> ReadService:
    return ReadService(message_store())


@cache
def typing_state() -> DynamoTypingStateStore:
    return DynamoTypingStateStore()


@cache
def typing_service() -> TypingService:
    queue_url = settings().typing_timers_queue_url
    if not queue_url:
        raise RuntimeError("TYPING_TIMERS_QUEUE_URL is not set: typing cannot expire")
    return TypingService(
        typing_state(),
        message_store(),
        user_directory(),
        rate_limiter(),
        SqsTypingTimers(queue_url),
        typing_fanout,
        now=time.time,
    )


@cache
def fanout() -> Fanout:
    """Chat events and read receipts: a connection that fails is retried through the delivery
    retry queue (docs/architecture.md "Fan-out")."""
    return Fanout(DynamoMemberDirectory(), connection_store(), poster(), delivery_retries())


@cache
def typing_fanout() -> Fanout:
    """Typing indicators are not retried: a late `typing.indicator` could land after the stop
    that ends it, which is worse than none; a connection that fails misses it."""
    return Fanout(DynamoMemberDirectory(), connection_store(), poster())


# --- sessions (PROTOCOL.md §3, §11) ---------------------------------------------------------


@cache
def revocations() -> DynamoRevocations:
    return DynamoRevocations()


@cache
def token_verifier() -> TokenVerifier:
    return TokenVerifier(signing_key, revocations())


@cache
def token_timer_queue() -> SqsTokenTimers:
    """Token timers, and closes waiting for a connection's handshake to complete."""
    queue_url = settings().token_timers_queue_url
    if not queue_url:
        raise RuntimeError("TOKEN_TIMERS_QUEUE_URL is not set: token expiry cannot be enforced")
    return SqsTokenTimers(queue_url)


@cache
def disconnector() -> Disconnector:
    return Disconnector(connection_store(), poster(), token_timer_queue(), now=time.time)


@cache
def token_timers() -> TokenTimerService:
    return TokenTimerService(connection_store(), token_timer_queue(), poster(), now=time.time)


@cache
def session_service() -> SessionService:
    return SessionService(
        connection_store(),
        message_store(),
        token_verifier(),
        revocations(),
        token_timers(),
        disconnector(),
        now=time.time,
        upgrade_url=settings().protocol_upgrade_url,
    )


@cache
def credential_service() -> CredentialService:
    return CredentialService(
        DynamoRefreshTokenStore(), revocations(), connection_store(), disconnector(), signing_key, now=time.time
    )


def issue_session(user_id: str) -> dict[str, Any]:
    """A new sign-in for `user_id`: `{token, refreshToken, expiresAt}`, the refresh token stored
    (hashed) so that `POST /api/auth/refresh` accepts it. For whatever signs people in; locally,
    the `tidings` CLI. Needs the environment of a function with the JWT secret and the
    RefreshTokens table."""
    return credential_service().issue_session(user_id).to_wire()


@cache
def sync_service() -> SyncService:
    return SyncService(DynamoSyncStore(), rate_limiter=rate_limiter())


@cache
def chat_service() -> ChatService:
    return ChatService(DynamoChatStore(), preference_store())


# --- search (PROTOCOL.md §9) ----------------------------------------------------------------


def search_engine() -> SearchEngine:
    """The engine the settings select. Not cached itself: the engine is cached per location,
    so every function of one process (the local runtime) shares one embedded engine."""
    current = settings()
    if current.search_engine == "opensearch":
        if not current.opensearch_endpoint:
            raise RuntimeError("SEARCH_ENGINE=opensearch needs SEARCH_ENDPOINT")
        return _opensearch_engine(current.opensearch_endpoint, current.search_index, current.aws_region)
    return _embedded_engine(current.search_db_path)


@cache
def _embedded_engine(path: str) -> EmbeddedSearchEngine:
    return EmbeddedSearchEngine(path)


@cache
def _opensearch_engine(endpoint: str, index: str, region: str) -> SearchEngine:
    from tidings.search.opensearch import OpenSearchEngine, client_for_aws

    return OpenSearchEngine(client_for_aws(endpoint, region), index)


@cache
def search_service() -> SearchService:
    return SearchService(search_engine, DynamoSearchDirectory(), rate_limiter(), now=search_clock)


@cache
def search_indexer() -> SearchIndexer:
    return SearchIndexer(search_engine, message_store().get)


def reindexer() -> Reindexer:
    return Reindexer(search_engine, DynamoMessageCatalog())


# --- push (docs/architecture.md "Push") -------------------------------------------------------

# Push credentials are cached this long, so a newly configured platform is picked up within it.
PUSH_SECRET_MAX_AGE_SECONDS = 300


@cache
def push_queue() -> SqsPushQueue:
    queue_url = settings().push_jobs_queue_url
    if not queue_url:
        raise RuntimeError("PUSH_JOBS_QUEUE_URL is not set: push notifications cannot be queued")
    return SqsPushQueue(queue_url)


@cache
def push_subscriptions() -> DynamoSubscriptionStore:
    return DynamoSubscriptionStore()


def _secret_reader(secret_id: str | None) -> SecretReader | None:
    if not secret_id:
        return None
    return lambda: str(parameters.get_secret(secret_id, max_age=PUSH_SECRET_MAX_AGE_SECONDS))


def vapid_config() -> VapidConfig | None:
    """The VAPID key pair, or None while the deployment has not configured one."""
    read = _secret_reader(settings().push_vapid_secret_arn)
    return VapidConfig.from_secret(read()) if read else None


def _web_push_sender(raw: str | None) -> WebPushSender | None:
    config = VapidConfig.from_secret(raw)
    return WebPushSender(config, allow_loopback_http=settings().push_allow_loopback_http) if config else None


def _fcm_sender(raw: str | None) -> FcmSender | None:
    config = FcmConfig.from_secret(raw)
    return FcmSender(config) if config else None


def _apns_sender(raw: str | None) -> ApnsSender | None:
    config = ApnsConfig.from_secret(raw)
    return ApnsSender(config) if config else None


@cache
def push_senders() -> ConfiguredSenders:
    current = settings()
    return ConfiguredSenders(
        {
            "webpush": _secret_reader(current.push_vapid_secret_arn),
            "fcm": _secret_reader(current.push_fcm_secret_arn),
            "apns": _secret_reader(current.push_apns_secret_arn),
        },
        {"webpush": _web_push_sender, "fcm": _fcm_sender, "apns": _apns_sender},
    )


# --- presence (PROTOCOL.md §8) --------------------------------------------------------------


@cache
def presence_store() -> DynamoPresenceStore:
    """Also for notifications: `presence_store().statuses(user_ids)` (DND, seed §3.2)."""
    return DynamoPresenceStore()


@cache
def presence_subscriptions() -> DynamoPresenceSubscriptions:
    return DynamoPresenceSubscriptions()


def presence_timings() -> PresenceTimings:
    current = settings()
    return PresenceTimings(
        idle_seconds=current.presence_idle_seconds,
        update_interval_seconds=current.presence_update_interval_seconds,
        subscription_seconds=current.presence_subscription_seconds,
    )


@cache
def push_delivery() -> PushDelivery:
    return PushDelivery(
        push_subscriptions(), push_senders(), push_queue(), retry_base_seconds=settings().push_retry_base_seconds
    )


@cache
def presence_timers() -> SqsPresenceTimers:
    queue_url = settings().presence_timers_queue_url
    if not queue_url:
        raise RuntimeError("PRESENCE_TIMERS_QUEUE_URL is not set: presence cannot go idle")
    return SqsPresenceTimers(queue_url)


@cache
def presence_service() -> PresenceService:
    # The timer queue is resolved only when a timer is armed: functions that only record
    # activity (message routes) never arm one and are not given the queue.
    return PresenceService(
        presence_store(),
        presence_subscriptions(),
        presence_timers,
        presence_timings(),
        liveness=DynamoConnectionLiveness(),
        now=time.time,
        rate_limiter=rate_limiter(),
    )


def presence_replies() -> ApiGatewayPoster:
    """Where `presence.subscribe` posts its ack and snapshot (the @connections API)."""
    return poster()


@cache
def presence_fanout() -> PresenceFanout:
    return PresenceFanout(presence_subscriptions(), connection_store(), poster(), now=time.time)
