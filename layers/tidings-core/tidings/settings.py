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
    # Push (docs/architecture.md "Push"): the job queue and the platforms' credentials.
    push_jobs_queue_url: str | None = Field(None, alias="PUSH_JOBS_QUEUE_URL")
    push_vapid_secret_arn: str | None = Field(None, alias="PUSH_VAPID_SECRET_ARN")
    push_fcm_secret_arn: str | None = Field(None, alias="PUSH_FCM_SECRET_ARN")
    push_apns_secret_arn: str | None = Field(None, alias="PUSH_APNS_SECRET_ARN")
    # Web Push endpoints must be https; `tidings dev` also allows http to a loopback host, for a
    # local push service. Never set on AWS.
    push_allow_loopback_http: bool = Field(False, alias="PUSH_ALLOW_LOOPBACK_HTTP")
    # Where a client that speaks no supported protocol version is sent (`UPGRADE_REQUIRED`).
    protocol_upgrade_url: str = Field(
        "https://github.com/tidings/tidings/blob/main/docs/protocol.md#versions", alias="PROTOCOL_UPGRADE_URL"
    )
    aws_region: str = Field("us-east-1", alias="AWS_REGION")


@cache
def settings() -> Settings:
    env = dict(os.environ)
    env.setdefault("AWS_REGION", env.get("AWS_DEFAULT_REGION", "us-east-1"))
    return Settings.model_validate(env)
