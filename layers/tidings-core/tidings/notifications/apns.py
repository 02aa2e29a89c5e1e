"""Apple Push Notification service, token-based (a .p8 signing key), over HTTP/2.

APNs accepts only HTTP/2, so this adapter uses httpx with h2. The provider token is an ES256
JWT (`iss` = team id, `kid` = key id) that Apple wants reused for 20 to 60 minutes, so it is
cached for 50.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from tidings.notifications.fcm import new_http_client
from tidings.notifications.push_delivery import (
    PushNotification,
    PushSubscription,
    SubscriptionGone,
    TransientPushFailure,
)
from tidings.notifications.push_http import PUSH_TTL_SECONDS, failure_for, parse_secret_json

APNS_PRODUCTION = "https://api.push.apple.com"
APNS_SANDBOX = "https://api.sandbox.push.apple.com"
PROVIDER_TOKEN_SECONDS = 50 * 60
# The device token is not (or no longer) valid for this app and environment.
GONE_REASONS = frozenset({"BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"})
# Our provider token is stale or refused: make a new one and retry.
TOKEN_REASONS = frozenset({"ExpiredProviderToken", "InvalidProviderToken"})


@dataclass(frozen=True)
class ApnsConfig:
    """The APNs secret: `{"teamId", "keyId", "privateKey" (the .p8 file's PEM), "bundleId",
    "sandbox": bool}`."""

    team_id: str
    key_id: str
    private_key: str
    bundle_id: str
    sandbox: bool = False

    @classmethod
    def from_secret(cls, raw: str | None) -> ApnsConfig | None:
        value = parse_secret_json(raw)
        if value is None or not all(value.get(k) for k in ("teamId", "keyId", "privateKey", "bundleId")):
            return None
        return cls(
            team_id=str(value["teamId"]),
            key_id=str(value["keyId"]),
            private_key=str(value["privateKey"]),
            bundle_id=str(value["bundleId"]),
            sandbox=bool(value.get("sandbox", False)),
        )

    @property
    def base_url(self) -> str:
        return APNS_SANDBOX if self.sandbox else APNS_PRODUCTION


class ApnsSender:
    def __init__(
        self, config: ApnsConfig, client: httpx.Client | None = None, now: Callable[[], float] = time.time
    ) -> None:
        self._config = config
        self._client = client or new_http_client(http2=True)
        self._now = now
        self._provider_token: str | None = None
        self._provider_token_issued_at = 0.0

    def send(self, subscription: PushSubscription, notification: PushNotification) -> None:
        urgent = notification.priority == "urgent"
        payload = notification.to_payload()
        aps: dict[str, Any] = {
            "alert": {"title": notification.title, "body": notification.body},
            "badge": notification.total_unread,
            "sound": "default",
            "thread-id": notification.chat_id,
        }
        if urgent:
            aps["interruption-level"] = "time-sensitive"
        headers = {
            "authorization": f"bearer {self._token()}",
            "apns-topic": self._config.bundle_id,
            "apns-push-type": "alert",
            "apns-priority": "10",  # deliver now; 5 would let the device batch it
            "apns-expiration": str(int(self._now()) + PUSH_TTL_SECONDS),
            "apns-collapse-id": notification.id[:64],
        }
        url = f"{self._config.base_url}/3/device/{subscription.device_token}"
        try:
            response = self._client.post(url, json={"aps": aps, **payload}, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientPushFailure(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code == 200:
            return
        reason = _reason(response)
        if reason in GONE_REASONS:
            raise SubscriptionGone(f"APNs: {reason}", response.status_code)
        if reason in TOKEN_REASONS:
            self._provider_token = None
            raise TransientPushFailure(f"APNs: {reason}", response.status_code)
        raise failure_for(
            response.status_code,
            f"APNs answered {response.status_code} {reason or ''}".strip(),
            response.headers.get("retry-after"),
        )

    def _token(self) -> str:
        now = self._now()
        if self._provider_token is None or now - self._provider_token_issued_at >= PROVIDER_TOKEN_SECONDS:
            self._provider_token = jwt.encode(
                {"iss": self._config.team_id, "iat": int(now)},
                self._config.private_key,
                algorithm="ES256",
                headers={"kid": self._config.key_id},
            )
            self._provider_token_issued_at = now
        return self._provider_token


def _reason(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body["reason"]) if isinstance(body, dict) and body.get("reason") else None
