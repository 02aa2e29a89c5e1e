"""The composition root: builds services from settings once per Lambda container.

Handlers ask for what they need here; tests build the same services with fakes instead.
"""

from __future__ import annotations

import time
from functools import cache

from aws_lambda_powertools.utilities import parameters

from tidings.adapters.apigateway import ApiGatewayPoster
from tidings.adapters.timers import SqsTypingTimers
from tidings.domain.chat_events import ChatEventService
from tidings.domain.chats import ChatService
from tidings.domain.fanout import Fanout
from tidings.domain.messages import MessageService
from tidings.domain.ratelimits import RateLimiter
from tidings.domain.receipts import ReadService
from tidings.domain.sync import SyncService
from tidings.domain.typing import TypingService
from tidings.settings import settings
from tidings.storage.chats import DynamoChatStore
from tidings.storage.connections import DynamoConnectionStore
from tidings.storage.messages import DynamoMemberDirectory, DynamoMessageStore, DynamoUserDirectory
from tidings.storage.ratelimits import DynamoBucketStore
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


@cache
def sync_service() -> SyncService:
    return SyncService(DynamoSyncStore())


@cache
def chat_service() -> ChatService:
    return ChatService(DynamoChatStore())
