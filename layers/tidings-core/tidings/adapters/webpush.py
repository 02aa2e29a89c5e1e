"""Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291),
through pywebpush."""

from __future__ import annotations

import json
from dataclasses import dataclass

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from py_vapid.utils import b64urlencode
from pywebpush import WebPushException, webpush

from tidings.adapters.push_http import (
    CONNECT_TIMEOUT_SECONDS,
    PUSH_TTL_SECONDS,
    READ_TIMEOUT_SECONDS,
    failure_for,
    guarded_session,
    parse_secret_json,
)
from tidings.domain.push import (
    EndpointRefused,
    PushNotification,
    PushRejected,
    PushSubscription,
    TransientPushFailure,
    check_endpoint,
)


@dataclass(frozen=True)
class VapidConfig:
    """The VAPID secret: `{"privateKey": <base64url 32-byte P-256 scalar>, "subject": "mailto:…"}`."""

    private_key: str
    subject: str

    @classmethod
    def from_secret(cls, raw: str | None) -> VapidConfig | None:
        value = parse_secret_json(raw)
        if value is None or not value.get("privateKey") or not value.get("subject"):
            return None
        return cls(str(value["privateKey"]), str(value["subject"]))

    @property
    def public_key(self) -> str:
        """The application server key a browser subscribes with: base64url uncompressed point."""
        return vapid_public_key(Vapid.from_raw(self.private_key.encode()))

    @classmethod
    def generate(cls, subject: str) -> VapidConfig:
        private = ec.generate_private_key(ec.SECP256R1())
        scalar = private.private_numbers().private_value.to_bytes(32, "big")
        return cls(b64urlencode(scalar), subject)

    def to_secret(self) -> str:
        return json.dumps({"privateKey": self.private_key, "subject": self.subject})


def vapid_public_key(vapid: Vapid) -> str:
    point = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64urlencode(point)


class WebPushSender:
    """Endpoint URLs are capabilities (whoever has one can push to that browser): no message
    this raises, and so nothing logged, carries one; failures name the exception type only."""

    def __init__(self, config: VapidConfig, *, allow_loopback_http: bool, session: requests.Session | None = None):
        self._vapid = Vapid.from_raw(config.private_key.encode())
        self._subject = config.subject
        self._allow_loopback_http = allow_loopback_http
        # Checks every address it connects to: DNS may have changed since the registration.
        self._session = session or guarded_session(allow_loopback_http=allow_loopback_http)

    def send(self, subscription: PushSubscription, notification: PushNotification) -> None:
        endpoint = subscription.endpoint or ""
        try:
            # Again at send time: a subscription stored before these rules, or resolving elsewhere now.
            check_endpoint(endpoint, allow_loopback_http=self._allow_loopback_http)
        except EndpointRefused as exc:
            raise PushRejected(f"endpoint {exc}") from exc
        try:
            webpush(
                subscription_info={
                    "endpoint": endpoint,
                    "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
                },
                data=json.dumps(notification.to_payload(), separators=(",", ":")),
                vapid_private_key=self._vapid,
                # A new dict each time: pywebpush writes `aud` and `exp` into the one it is given,
                # and a reused dict would carry the first push service's audience to the next.
                vapid_claims={"sub": self._subject},
                ttl=PUSH_TTL_SECONDS,
                timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),  # type: ignore[arg-type]
                headers={"Urgency": "high" if notification.priority == "urgent" else "normal"},
                requests_session=self._session,
            )
        except WebPushException as exc:
            response = exc.response
            if response is None or exc.status_code is None:
                raise TransientPushFailure(str(exc)) from exc
            raise failure_for(
                exc.status_code, f"push service answered {exc.status_code}", response.headers.get("Retry-After")
            ) from exc
        except EndpointRefused as exc:  # at connect time: the host resolved to a refused address
            raise PushRejected(f"endpoint {exc}") from exc
        except requests.RequestException as exc:  # connection refused, timeout, TLS …; str(exc) has the URL
            raise TransientPushFailure(f"{type(exc).__name__} reaching the push service") from exc
        except ValueError as exc:  # malformed p256dh/auth stored from a bad registration
            raise PushRejected(f"cannot encrypt for this subscription: {type(exc).__name__}") from exc
