"""How the push adapters read a push service's HTTP answer, the timeouts they use, and the
HTTP session that connects only to the addresses a push endpoint may have."""

from __future__ import annotations

import json
import socket
import time
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

from tidings.notifications import push_endpoints
from tidings.notifications.push_delivery import PushFailure, PushRejected, SubscriptionGone, TransientPushFailure

# Short, so that an unreachable push service costs the worker seconds, not its whole timeout.
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 5.0
# How long a push service keeps a notification for a device that is offline.
PUSH_TTL_SECONDS = 24 * 3600


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds (it may be a number or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def failure_for(status: int, message: str, retry_after: str | None = None) -> PushFailure:
    """404/410: gone. 429 and 5xx: transient. Anything else: rejected."""
    if status in (404, 410):
        return SubscriptionGone(message, status)
    if status == 429 or status >= 500:
        return TransientPushFailure(message, status, retry_after_seconds(retry_after))
    return PushRejected(message, status)


def parse_secret_json(raw: str | None) -> dict[str, Any] | None:
    """A platform's credentials are a JSON object; the unconfigured placeholder (`{}`), or
    anything that is not JSON, means the platform is not configured."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) and value else None


# --- connecting only where a push endpoint may lead ---------------------------------------------


def _guarded(connection_class: type[HTTPConnection], scheme: str, allow_loopback_http: bool) -> type[HTTPConnection]:
    """`connection_class` that resolves its host itself, checks every address
    (`tidings.notifications.push_endpoints.check_addresses`) and connects to the first of the addresses it
    checked, so a DNS answer that changed since registration (or since the last check) cannot
    lead the worker inside the deployment. TLS still verifies the certificate for the host name."""

    class GuardedConnection(connection_class):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> socket.socket:
            try:
                addresses = push_endpoints.resolve_host(self._dns_host, self.port)
            except socket.gaierror as exc:
                raise NameResolutionError(self.host, self, exc) from exc
            push_endpoints.check_addresses(scheme, self.host, addresses, allow_loopback_http=allow_loopback_http)
            try:
                return create_connection(
                    (addresses[0], self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
            except OSError as exc:
                raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc

    return GuardedConnection


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, allow_loopback_http: bool) -> None:
        self._allow_loopback_http = allow_loopback_http
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        allow = self._allow_loopback_http

        class HttpPool(HTTPConnectionPool):
            ConnectionCls = _guarded(HTTPConnection, "http", allow)

        class HttpsPool(HTTPSConnectionPool):
            ConnectionCls = _guarded(HTTPSConnection, "https", allow)  # type: ignore[assignment]

        self.poolmanager.pool_classes_by_scheme = {"http": HttpPool, "https": HttpsPool}


def guarded_session(*, allow_loopback_http: bool) -> requests.Session:
    """A requests session for push services: every connection it opens, redirects included, is
    checked at connect time; proxies from the environment are ignored (they would be connected
    to instead of the checked address)."""
    session = requests.Session()
    session.trust_env = False
    adapter = _GuardedAdapter(allow_loopback_http)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
