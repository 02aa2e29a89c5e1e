"""Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291),
through pywebpush."""

from __future__ import annotations

import json

import requests
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from tidings.notifications.push_delivery import PushNotification, PushRejected, PushSubscription, TransientPushFailure
from tidings.notifications.push_endpoints import EndpointRefused, check_endpoint
from tidings.notifications.push_http import (
    CONNECT_TIMEOUT_SECONDS,
    PUSH_TTL_SECONDS,
    READ_TIMEOUT_SECONDS,
    failure_for,
    guarded_session,
)
from tidings.notifications.vapid import VapidConfig


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
