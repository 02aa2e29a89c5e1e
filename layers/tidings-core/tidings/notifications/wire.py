"""The push subscription REST bodies, validated with pydantic.

`POST /api/push/subscriptions` takes a browser's Web Push subscription (`PushSubscription.toJSON()`:
`{endpoint, keys: {p256dh, auth}, expirationTime}`) or a native device token
(`{platform: "fcm"|"apns", deviceToken}`); `DELETE` takes the same identification (`{endpoint}`
or `{platform, deviceToken}`). A bad field is a ValidationError, which the HTTP edge turns
into 400 naming it; so is an endpoint inside the deployment (`tidings.notifications.push_endpoints.check_endpoint`).
Whether http endpoints on 127.0.0.1/localhost are allowed comes in the validation context
(`allow_loopback_http`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from tidings.kernel.lazy_model import LazyModel
from tidings.kernel.wire import ServerPayload
from tidings.notifications.push_delivery import PushSubscription, subscription_id
from tidings.notifications.push_endpoints import check_endpoint

MAX_ENDPOINT_LENGTH = 2048
MAX_DEVICE_TOKEN_LENGTH = 4096


def _base64url_bytes(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("must be base64url") from exc


class WebPushKeys(LazyModel):
    model_config = ConfigDict(extra="ignore")

    p256dh: str = Field(min_length=1, max_length=200)
    auth: str = Field(min_length=1, max_length=100)

    @field_validator("p256dh")
    @classmethod
    def _uncompressed_point(cls, value: str) -> str:
        point = _base64url_bytes(value)
        if len(point) != 65 or point[0] != 4:
            raise ValueError("must be a base64url uncompressed P-256 point (65 bytes)")
        return value

    @field_validator("auth")
    @classmethod
    def _auth_secret(cls, value: str) -> str:
        if len(_base64url_bytes(value)) != 16:
            raise ValueError("must be a base64url 16-byte auth secret")
        return value


def _endpoint(value: str, info: ValidationInfo) -> str:
    allow = bool((info.context or {}).get("allow_loopback_http", False))
    return check_endpoint(value, allow_loopback_http=allow)


class WebPushRegistration(LazyModel):
    model_config = ConfigDict(extra="ignore")

    platform: Literal["webpush"] = "webpush"
    endpoint: str = Field(min_length=1, max_length=MAX_ENDPOINT_LENGTH)
    keys: WebPushKeys
    # Epoch milliseconds, as browsers give it; at most JavaScript's largest exact integer.
    expirationTime: int | None = Field(None, ge=0, le=2**53 - 1)

    _check_endpoint = field_validator("endpoint")(_endpoint)

    def subscription(self, user_id: str, created_at: str) -> PushSubscription:
        return PushSubscription(
            user_id=user_id,
            platform="webpush",
            endpoint=self.endpoint,
            p256dh=self.keys.p256dh,
            auth=self.keys.auth,
            created_at=created_at,
            expires_at=self.expirationTime // 1000 if self.expirationTime else None,
        )


class DeviceTokenRegistration(LazyModel):
    model_config = ConfigDict(extra="ignore")

    platform: Literal["fcm", "apns"]
    deviceToken: str = Field(min_length=1, max_length=MAX_DEVICE_TOKEN_LENGTH, pattern=r"^[A-Za-z0-9_:\-.]+$")

    @field_validator("deviceToken")
    @classmethod
    def _apns_is_hex(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("platform") == "apns" and not all(c in "0123456789abcdefABCDEF" for c in value):
            raise ValueError("an APNs device token is hexadecimal")
        return value

    def subscription(self, user_id: str, created_at: str) -> PushSubscription:
        return PushSubscription(
            user_id=user_id, platform=self.platform, device_token=self.deviceToken, created_at=created_at
        )


class WebPushIdentity(LazyModel):
    model_config = ConfigDict(extra="ignore")

    platform: Literal["webpush"] = "webpush"
    endpoint: str = Field(min_length=1, max_length=MAX_ENDPOINT_LENGTH)

    @property
    def subscription_id(self) -> str:
        return subscription_id("webpush", self.endpoint)


class DeviceTokenIdentity(LazyModel):
    model_config = ConfigDict(extra="ignore")

    platform: Literal["fcm", "apns"]
    deviceToken: str = Field(min_length=1, max_length=MAX_DEVICE_TOKEN_LENGTH)

    @property
    def subscription_id(self) -> str:
        return subscription_id(self.platform, self.deviceToken)


def _is_native(body: Any) -> bool:
    return isinstance(body, dict) and body.get("platform") in ("fcm", "apns")


def parse_registration(body: Any, *, allow_loopback_http: bool) -> WebPushRegistration | DeviceTokenRegistration:
    """Raises pydantic.ValidationError naming the bad field."""
    context = {"allow_loopback_http": allow_loopback_http}
    if _is_native(body):
        return DeviceTokenRegistration.model_validate(body, context=context)
    return WebPushRegistration.model_validate(body, context=context)


def parse_identity(body: Any) -> WebPushIdentity | DeviceTokenIdentity:
    if _is_native(body):
        return DeviceTokenIdentity.model_validate(body)
    return WebPushIdentity.model_validate(body)


class RegistrationResponse(ServerPayload):
    """`POST /api/push/subscriptions` (201)."""

    subscriptionId: str = Field(description="The SHA-256 of the endpoint, or of the platform and token")
    platform: Literal["webpush", "fcm", "apns"]


class VapidKeyResponse(ServerPayload):
    publicKey: str = Field(description="The base64url uncompressed P-256 point, for `applicationServerKey`")


# --- frames ----------------------------------------------------------------------------------


class BadgePayload(ServerPayload):
    chatId: str
    unreadCount: int
    mentionCount: int
    totalUnreadCount: int
    totalMentionCount: int


class ToastPayload(ServerPayload):
    id: str = Field(description="The toast's id: replace a shown toast with the same id")
    title: str
    body: str
    chatId: str
    messageId: str
    priority: Literal["normal", "urgent"]
    timestamp: str
    actions: list[Literal["reply", "markRead", "mute"]]
    count: int = Field(description="How many messages the toast stands for")
