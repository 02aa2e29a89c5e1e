"""Environment variables as a typed model, validated at cold start.

Table names are read by `tidings.storage.models`; everything else a function needs is here.
Logic receives these values as arguments and never reads `os.environ` itself.
"""

from __future__ import annotations

import os
import tempfile
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class Settings(BaseModel):
    jwt_secret_arn: str | None = Field(None, alias="JWT_SIGNING_KEY_SECRET_ARN")
    websocket_callback_url: str | None = Field(None, alias="WEBSOCKET_CALLBACK_URL")
    typing_timers_queue_url: str | None = Field(None, alias="TYPING_TIMERS_QUEUE_URL")
    token_timers_queue_url: str | None = Field(None, alias="TOKEN_TIMERS_QUEUE_URL")
    # Fan-out's delivery retries (docs/architecture.md "Fan-out").
    delivery_retries_queue_url: str | None = Field(None, alias="DELIVERY_RETRIES_QUEUE_URL")
    # Push (docs/architecture.md "Push"): the job queue and the platforms' credentials.
    push_jobs_queue_url: str | None = Field(None, alias="PUSH_JOBS_QUEUE_URL")
    push_vapid_secret_arn: str | None = Field(None, alias="PUSH_VAPID_KEY_SECRET_ARN")
    push_fcm_secret_arn: str | None = Field(None, alias="PUSH_FCM_SERVICE_ACCOUNT_SECRET_ARN")
    push_apns_secret_arn: str | None = Field(None, alias="PUSH_APNS_KEY_SECRET_ARN")
    # Web Push endpoints must be https; `tidings dev` also allows http to a loopback host, for a
    # local push service. Never set on AWS.
    push_allow_loopback_http: bool = Field(False, alias="PUSH_ALLOW_LOOPBACK_HTTP")
    # The first push retry's delay (then doubling); `tidings dev --push-retry-base-seconds` shortens it.
    push_retry_base_seconds: float = Field(30, gt=0, le=900, alias="PUSH_RETRY_BASE_SECONDS")
    # Where a client that speaks no supported protocol version is sent (`UPGRADE_REQUIRED`).
    protocol_upgrade_url: str = Field(
        "https://github.com/tidings/tidings/blob/main/docs/protocol.md#versions", alias="PROTOCOL_UPGRADE_URL"
    )
    aws_region: str = Field("us-east-1", alias="AWS_REGION")
    # Search (docs/architecture.md "Search"): the embedded SQLite FTS5 engine in a file (tests,
    # `tidings dev`), or OpenSearch at OPENSEARCH_ENDPOINT (AWS; CDK sets both).
    search_engine: Literal["embedded", "opensearch"] = Field("embedded", alias="SEARCH_ENGINE")
    search_db_path: str = Field(
        default_factory=lambda: str(Path(tempfile.gettempdir()) / "tidings-search.db"), alias="SEARCH_DB_PATH"
    )
    opensearch_endpoint: str | None = Field(None, alias="SEARCH_ENDPOINT")
    search_index: str = Field("tidings-messages", alias="SEARCH_INDEX")
    # Presence (PROTOCOL.md §8): timers, and the durations tests and `tidings dev` shorten.
    presence_timers_queue_url: str | None = Field(None, alias="PRESENCE_TIMERS_QUEUE_URL")
    presence_idle_seconds: float = Field(300, gt=0, alias="PRESENCE_IDLE_SECONDS")
    presence_update_interval_seconds: float = Field(10, ge=0, alias="PRESENCE_UPDATE_INTERVAL_SECONDS")
    presence_subscription_seconds: int = Field(600, gt=0, alias="PRESENCE_SUBSCRIPTION_SECONDS")


@cache
def settings() -> Settings:
    env = dict(os.environ)
    env.setdefault("AWS_REGION", env.get("AWS_DEFAULT_REGION", "us-east-1"))
    return Settings.model_validate(env)
