"""The composition root: builds services from settings once per Lambda container.

Handlers ask for what they need here; tests build the same services with fakes instead.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities import parameters

from tidings.adapters.apigateway import ApiGatewayPoster
from tidings.adapters.presence_timers import SqsPresenceTimers
from tidings.adapters.timers import SqsTypingTimers
from tidings.adapters.token_timers import SqsTokenTimers
from tidings.domain.badges import BadgeService
from tidings.domain.chat_events import ChatEventService
from tidings.domain.chats import ChatService
from tidings.domain.connections import Disconnector
from tidings.domain.credentials import CredentialService
from tidings.domain.fanout import Fanout
from tidings.domain.messages import MessageService
from tidings.domain.presence import PresenceFanout, PresenceService, PresenceTimings
from tidings.domain.ratelimits import RateLimiter
from tidings.domain.receipts import ReadService
from tidings.domain.session import SessionService, TokenVerifier
from tidings.domain.sync import SyncService
from tidings.domain.token_timers import TokenTimerService
from tidings.domain.typing import TypingService
from tidings.settings import settings
from tidings.storage.badges import DynamoBadgeStore
from tidings.storage.chats import DynamoChatStore
from tidings.storage.connections import DynamoConnectionStore
from tidings.storage.messages import DynamoMemberDirectory, DynamoMessageStore, DynamoUserDirectory
from tidings.storage.presence import DynamoConnectionLiveness, DynamoPresenceStore, DynamoPresenceSubscriptions
from tidings.storage.ratelimits import DynamoBucketStore
from tidings.storage.sessions import DynamoRefreshTokenStore, DynamoRevocations
from tidings.storage.sync import DynamoSyncStore
from tidings.storage.typing import DynamoTypingStateStore

# The signing key is cached by Powertools for this long, so a rotation lands within minutes.
SIGNING_KEY_MAX_AGE_SECONDS = 300


def signing_key() -> str:
    secret_id = settings().jwt_secret_arn
    if not secret_id:
        raise RuntimeError("JWT_SECRET_ARN is not set: the authorizer cannot verify tokens")
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
def badge_service() -> BadgeService:
    return BadgeService(DynamoBadgeStore(), DynamoMemberDirectory(), connection_store(), poster)


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
        fanout,
        now=time.time,
    )


@cache
def fanout() -> Fanout:
    return Fanout(DynamoMemberDirectory(), connection_store(), poster())


# --- sessions (PROTOCOL.md §3, §11) ---------------------------------------------------------


@cache
def revocations() -> DynamoRevocations:
    return DynamoRevocations()


@cache
def token_verifier() -> TokenVerifier:
    return TokenVerifier(signing_key, revocations())


@cache
def disconnector() -> Disconnector:
    return Disconnector(connection_store(), poster())


@cache
def token_timers() -> TokenTimerService:
    queue_url = settings().token_timers_queue_url
    if not queue_url:
        raise RuntimeError("TOKEN_TIMERS_QUEUE_URL is not set: token expiry cannot be enforced")
    return TokenTimerService(connection_store(), SqsTokenTimers(queue_url), poster(), now=time.time)


@cache
def session_service() -> SessionService:
    return SessionService(
        connection_store(),
        message_store(),
        token_verifier(),
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
    return SyncService(DynamoSyncStore())


@cache
def chat_service() -> ChatService:
    return ChatService(DynamoChatStore())


# --- presence (PROTOCOL.md §8) --------------------------------------------------------------


@cache
def presence_store() -> DynamoPresenceStore:
    """Also for notifications: `presence_store().status_of(user_id)` (DND, seed §3.2)."""
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
    )


def presence_replies() -> ApiGatewayPoster:
    """Where `presence.subscribe` posts its ack and snapshot (the @connections API)."""
    return poster()


@cache
def presence_fanout() -> PresenceFanout:
    return PresenceFanout(presence_subscriptions(), connection_store(), poster(), now=time.time)
