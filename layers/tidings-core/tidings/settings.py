"""Environment variables as a typed model, validated at cold start.

Table names are read by `tidings.storage.models`; everything else a function needs is here.
Logic receives these values as arguments and never reads `os.environ` itself.
"""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, Field


class Settings(BaseModel):
    jwt_secret_arn: str | None = Field(None, alias="JWT_SECRET_ARN")
    websocket_callback_url: str | None = Field(None, alias="WEBSOCKET_CALLBACK_URL")
    typing_timers_queue_url: str | None = Field(None, alias="TYPING_TIMERS_QUEUE_URL")
    token_timers_queue_url: str | None = Field(None, alias="TOKEN_TIMERS_QUEUE_URL")
    # Where a client that speaks no supported protocol version is sent (`UPGRADE_REQUIRED`).
    protocol_upgrade_url: str = Field(
        "https://github.com/tidings/tidings/blob/main/docs/protocol.md#versions", alias="PROTOCOL_UPGRADE_URL"
    )
    aws_region: str = Field("us-east-1", alias="AWS_REGION")
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
