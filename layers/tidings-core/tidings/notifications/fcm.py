"""Firebase Cloud Messaging, HTTP v1 API.

A service account authenticates by the OAuth 2.0 JWT-bearer grant (RFC 7523): an RS256
assertion signed with its private key is exchanged at its `token_uri` for an access token,
which is cached until shortly before it expires and used for `messages:send`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from tidings.notifications.push_delivery import (
    PushNotification,
    PushRejected,
    PushSubscription,
    SubscriptionGone,
    TransientPushFailure,
)
from tidings.notifications.push_http import (
    CONNECT_TIMEOUT_SECONDS,
    PUSH_TTL_SECONDS,
    READ_TIMEOUT_SECONDS,
    failure_for,
    parse_secret_json,
)

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
FCM_SEND_URL = "https://fcm.googleapis.com/v1/projects/{project}/messages:send"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_SECONDS = 3600
TOKEN_REFRESH_MARGIN_SECONDS = 300


@dataclass(frozen=True)
class FcmConfig:
    """The FCM secret: the service account JSON key file, as Google's console downloads it."""

    project_id: str
    client_email: str
    private_key: str  # PEM
    private_key_id: str | None = None
    token_uri: str = GOOGLE_TOKEN_URI

    @classmethod
    def from_secret(cls, raw: str | None) -> FcmConfig | None:
        value = parse_secret_json(raw)
        if value is None or not all(value.get(k) for k in ("project_id", "client_email", "private_key")):
            return None
        return cls(
            project_id=str(value["project_id"]),
            client_email=str(value["client_email"]),
            private_key=str(value["private_key"]),
            private_key_id=value.get("private_key_id"),
            token_uri=str(value.get("token_uri") or GOOGLE_TOKEN_URI),
        )


def new_http_client(*, http2: bool = False) -> httpx.Client:
    return httpx.Client(http2=http2, timeout=httpx.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS))


class FcmSender:
    def __init__(
        self, config: FcmConfig, client: httpx.Client | None = None, now: Callable[[], float] = time.time
    ) -> None:
        self._config = config
        self._client = client or new_http_client()
        self._now = now
        self._access_token: str | None = None
        self._access_token_expires_at = 0.0

    def send(self, subscription: PushSubscription, notification: PushNotification) -> None:
        message = {
            "message": {
                "token": subscription.device_token,
                # FCM data values must be strings; the app renders the notification itself.
                "data": {key: str(value) for key, value in notification.to_payload().items()},
                "android": {
                    "priority": "high" if notification.priority == "urgent" else "normal",
                    "ttl": f"{PUSH_TTL_SECONDS}s",
                    "collapse_key": notification.chat_id,
                },
            }
        }
        url = FCM_SEND_URL.format(project=self._config.project_id)
        response = self._post(url, json=message, headers={"Authorization": f"Bearer {self._token()}"})
        if response.status_code == 200:
            return
        if response.status_code == 401:  # the access token was revoked or expired early
            self._access_token = None
            raise TransientPushFailure("FCM refused the access token", 401)
        if _fcm_error_code(response) == "UNREGISTERED":
            raise SubscriptionGone("FCM: the registration token is no longer valid", response.status_code)
        raise failure_for(
            response.status_code, f"FCM answered {response.status_code}", response.headers.get("Retry-After")
        )

    def _token(self) -> str:
        if self._access_token and self._now() < self._access_token_expires_at - TOKEN_REFRESH_MARGIN_SECONDS:
            return self._access_token
        issued_at = int(self._now())
        assertion = jwt.encode(
            {
                "iss": self._config.client_email,
                "scope": FCM_SCOPE,
                "aud": self._config.token_uri,
                "iat": issued_at,
                "exp": issued_at + ASSERTION_LIFETIME_SECONDS,
            },
            self._config.private_key,
            algorithm="RS256",
            headers={"kid": self._config.private_key_id} if self._config.private_key_id else None,
        )
        response = self._post(self._config.token_uri, data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion})
        if response.status_code != 200:
            failure = failure_for(response.status_code, f"Google's token endpoint answered {response.status_code}")
            if isinstance(failure, SubscriptionGone):  # a 404 here says nothing about the device
                raise PushRejected(str(failure), response.status_code)
            raise failure
        body = response.json()
        self._access_token = str(body["access_token"])
        self._access_token_expires_at = issued_at + float(body.get("expires_in", ASSERTION_LIFETIME_SECONDS))
        return self._access_token

    def _post(self, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.post(url, **kwargs)
        except httpx.HTTPError as exc:  # timeouts, refused connections, protocol errors
            raise TransientPushFailure(f"{type(exc).__name__}: {exc}") from exc


def _fcm_error_code(response: httpx.Response) -> str | None:
    """FCM's own error code, from `error.details[].errorCode` (e.g. UNREGISTERED)."""
    try:
        details = response.json().get("error", {}).get("details", [])
    except ValueError:
        return None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            return str(detail["errorCode"])
    return None
