"""Session frames and the auth REST bodies: payload models and builders."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from tidings.kernel.errors import ErrorCode
from tidings.kernel.lazy_model import LazyModel
from tidings.kernel.wire import AckOk, ServerPayload, error_frame, iso, server_frame

MAX_TOKEN_CHARS = 8192


class _Payload(LazyModel):
    model_config = ConfigDict(extra="ignore")


class HelloPayload(_Payload):
    # Strict: `true` or `"1"` is not a version (BAD_FRAME); any integer is, supported or not.
    protocolVersion: int = Field(strict=True)
    client: str | None = Field(None, max_length=128)


class AuthRenewPayload(_Payload):
    token: str = Field(min_length=1, max_length=MAX_TOKEN_CHARS)


class ChatFocusPayload(_Payload):
    # Required, but may be null (no chat focused).
    chatId: str | None = Field(min_length=1, max_length=128)


class RefreshRequest(_Payload):
    """`POST /api/auth/refresh`."""

    refreshToken: str = Field(min_length=1, max_length=512)


class WelcomePayload(ServerPayload):
    refId: str
    connectionId: str
    userId: str
    protocolVersion: int
    supportedVersions: list[int]
    heartbeatIntervalMs: int = Field(description="How often to send `ping`")
    serverTime: str = Field(description="The server's clock, ISO 8601 UTC, to estimate the client's offset")


class TokenRefreshPayload(ServerPayload):
    expiresAt: str = Field(description="When the connection's access token expires, ISO 8601 UTC")


class AuthRenewAck(AckOk):
    expiresAt: str = Field(description="The connection's new expiry, ISO 8601 UTC")


class ChatFocusAck(AckOk):
    chatId: str | None


class RefreshResponse(ServerPayload):
    """`POST /api/auth/refresh`: the new access token and the refresh token that replaces the one sent."""

    token: str
    refreshToken: str
    expiresAt: str = Field(description="When the access token expires, ISO 8601 UTC")


class RevokeResponse(ServerPayload):
    revoked: Literal[True] = True


def welcome_frame(
    ref_id: str,
    *,
    connection_id: str,
    user_id: str,
    protocol_version: int,
    supported_versions: list[int],
    heartbeat_interval_ms: int,
    server_time: float,
) -> dict[str, Any]:
    return server_frame(
        "welcome",
        WelcomePayload(
            refId=ref_id,
            connectionId=connection_id,
            userId=user_id,
            protocolVersion=protocol_version,
            supportedVersions=supported_versions,
            heartbeatIntervalMs=heartbeat_interval_ms,
            serverTime=iso(server_time),
        ),
    )


def upgrade_required_frame(
    ref_id: str, message: str, upgrade_url: str, supported_versions: list[int]
) -> dict[str, Any]:
    return error_frame(
        ErrorCode.UPGRADE_REQUIRED,
        message,
        ref_id=ref_id,
        upgrade_url=upgrade_url,
        supported_versions=supported_versions,
    )


def token_refresh_frame(token_expires_at: int) -> dict[str, Any]:
    return server_frame("token.refresh", TokenRefreshPayload(expiresAt=iso(token_expires_at)))
