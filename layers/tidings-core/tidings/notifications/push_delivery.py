"""Push notifications for offline users (docs/protocol.md, "Notifications").

The Notify consumer decides *that* a user gets a push (the evaluator) and enqueues a
`PushNotification`; the push worker decides *how*: it reads the user's subscriptions and sends
through Web Push, FCM or APNs. The queue between them keeps a slow or dead push service from
ever delaying badges or toasts."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import KW_ONLY, asdict, dataclass, replace
from enum import StrEnum
from typing import Any, Protocol


class Notice(Protocol):
    """What a toast and a push notification both tell about a message."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def chat_id(self) -> str: ...
    @property
    def message_id(self) -> str: ...
    @property
    def priority(self) -> str: ...
    @property
    def timestamp(self) -> str: ...


def notice_fields(notice: Notice) -> dict[str, Any]:
    """Those fields in their wire names, as the push payload and the toast frame carry them."""
    return {
        "id": notice.id,
        "title": notice.title,
        "body": notice.body,
        "chatId": notice.chat_id,
        "messageId": notice.message_id,
        "priority": notice.priority,
        "timestamp": notice.timestamp,
    }


@dataclass(frozen=True)
class PushNotification:
    """What one user's devices are told about one message (or a group of them)."""

    user_id: str
    id: str  # the toast id: a device may replace an earlier notification with the same id
    title: str
    body: str
    chat_id: str
    message_id: str
    priority: str  # "normal" | "urgent"
    timestamp: str
    count: int = 1
    total_unread: int = 0  # the app icon's badge

    def to_payload(self) -> dict[str, Any]:
        """The JSON a device receives (Web Push payload, FCM data, APNs custom keys)."""
        return {"type": "notification.push", **notice_fields(self), "count": self.count, "badge": self.total_unread}

    def to_job(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_job(cls, job: dict[str, Any]) -> PushNotification:
        return cls(**{name: job[name] for name in cls.__dataclass_fields__ if name in job})


class PushJobs(Protocol):
    """The push queue (`tidings.kernel.delay_queue.DelayQueue` of `PushJob`s)."""

    def schedule(self, job: PushJob, delay_seconds: int = 0) -> None: ...


def subscription_id(platform: str, address: str) -> str:
    """Stable id of a subscription: SHA-256 of the Web Push endpoint, or of `platform:token`."""
    key = address if platform == "webpush" else f"{platform}:{address}"
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class PushSubscription:
    user_id: str
    platform: str  # webpush | fcm | apns
    endpoint: str | None = None  # webpush
    p256dh: str | None = None  # webpush: the browser's ECDH P-256 public key, base64url
    auth: str | None = None  # webpush: the 16-byte auth secret, base64url
    device_token: str | None = None  # fcm | apns
    created_at: str = ""
    expires_at: int | None = None  # epoch seconds (Web Push `expirationTime`)

    @property
    def id(self) -> str:
        address = self.endpoint if self.platform == "webpush" else self.device_token
        return subscription_id(self.platform, address or "")


class SubscriptionStore(Protocol):
    def save(self, subscription: PushSubscription) -> None:
        """Idempotent; also takes the subscription away from any other user who held it."""

    def remove(self, user_id: str, subscription_id: str) -> None: ...

    def for_user(self, user_id: str) -> list[PushSubscription]: ...


class PushFailure(Exception):
    """A push service did not take a notification. `status` is its HTTP status, if it answered."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SubscriptionGone(PushFailure):
    """404/410 (or the platform's equivalent): the device unsubscribed; delete the subscription."""


class TransientPushFailure(PushFailure):
    """Timeout, connection error, 429 or 5xx: worth retrying later."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class PushRejected(PushFailure):
    """Any other refusal (400, 403, 413 …): retrying the same request would fail the same way."""


class PushSender(Protocol):
    """One platform's push service. Raises a `PushFailure` subclass when it is not delivered."""

    def send(self, subscription: PushSubscription, notification: PushNotification) -> None: ...


@dataclass(frozen=True)
class PushJob:
    """One message on the push queue: a notification for all of a user's subscriptions, or a
    retry of it for one subscription (`subscription_id`) with its attempt number, and the trace
    id of the message it is about."""

    notification: PushNotification
    subscription_id: str | None = None
    attempt: int = 1
    trace_id: str | None = None

    def to_body(self) -> dict[str, Any]:
        return {
            "notification": self.notification.to_job(),
            "subscriptionId": self.subscription_id,
            "attempt": self.attempt,
            "traceId": self.trace_id,
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> PushJob:
        """Raises KeyError/TypeError/ValueError for a body that is not a push job."""
        attempt = int(body.get("attempt", 1))
        if attempt < 1:
            raise ValueError("attempt must be at least 1")
        subscription, trace_id = body.get("subscriptionId"), body.get("traceId")
        return cls(
            PushNotification.from_job(body["notification"]),
            str(subscription) if subscription is not None else None,
            attempt,
            trace_id if isinstance(trace_id, str) else None,
        )


class PushOutcome(StrEnum):
    SENT = "sent"
    EXPIRED = "expired"  # the push service said the subscription is gone: deleted
    RETRYING = "retrying"  # a transient failure: re-enqueued for this subscription, later
    GAVE_UP = "gave_up"  # a transient failure on the last attempt
    FAILED = "failed"  # refused for good
    UNCONFIGURED = "unconfigured"  # the deployment has no credentials for this platform


@dataclass(frozen=True)
class Delivery:
    """What happened to one notification on one subscription."""

    subscription_id: str
    platform: str
    outcome: PushOutcome
    attempt: int
    status: int | None = None
    delay_seconds: int | None = None
    detail: str = ""


SQS_MAX_DELAY_SECONDS = 900


RETRY_BASE_SECONDS = 30


MAX_ATTEMPTS = 5  # retries after 30 s, 60 s, 120 s, 240 s: a push older than ~8 minutes is stale


def retry_delay(failed_attempt: int, retry_after: float | None = None, base_seconds: float = RETRY_BASE_SECONDS) -> int:
    """Exponential backoff after the `failed_attempt`-th try (30 s, 60 s, 120 s …), at least
    the push service's `Retry-After`, at most SQS's 15-minute delay."""
    delay = math.ceil(base_seconds * 2 ** (failed_attempt - 1))
    if retry_after is not None:
        delay = max(delay, math.ceil(retry_after))
    return min(SQS_MAX_DELAY_SECONDS, delay)


@dataclass(frozen=True, eq=False)
class PushDelivery:
    """The push worker's logic: sends one job to each of the user's subscriptions, each failing
    on its own. A gone subscription is deleted; a transient failure is re-enqueued for just that
    subscription with backoff, up to `max_attempts`; an unconfigured platform is skipped."""

    subscriptions: SubscriptionStore
    senders: Callable[[str], PushSender | None]
    queue: PushJobs
    _: KW_ONLY
    max_attempts: int = MAX_ATTEMPTS
    retry_base_seconds: float = RETRY_BASE_SECONDS  # the first retry's delay (tests and `tidings dev` shorten it)

    def deliver(self, job: PushJob) -> list[Delivery]:
        targets = self.subscriptions.for_user(job.notification.user_id)
        if job.subscription_id is not None:
            targets = [s for s in targets if s.id == job.subscription_id]  # a retry; gone if deleted since
        return [self._deliver_one(job, subscription) for subscription in targets]

    def _deliver_one(self, job: PushJob, subscription: PushSubscription) -> Delivery:
        def delivery(outcome: PushOutcome, **extra: Any) -> Delivery:
            return Delivery(subscription.id, subscription.platform, outcome, job.attempt, **extra)

        try:
            sender = self.senders(subscription.platform)
            if sender is None:
                return delivery(PushOutcome.UNCONFIGURED)
            sender.send(subscription, job.notification)
        except SubscriptionGone as exc:
            self.subscriptions.remove(subscription.user_id, subscription.id)
            return delivery(PushOutcome.EXPIRED, status=exc.status)
        except PushRejected as exc:
            return delivery(PushOutcome.FAILED, status=exc.status, detail=str(exc))
        except Exception as exc:  # transient, or a failure nobody classified: retry, never crash
            retry_after = exc.retry_after if isinstance(exc, TransientPushFailure) else None
            status = exc.status if isinstance(exc, PushFailure) else None
            # Only our own failures' messages: another exception's text may quote the endpoint URL.
            detail = f"{type(exc).__name__}: {exc}" if isinstance(exc, PushFailure) else type(exc).__name__
            if job.attempt >= self.max_attempts:
                return delivery(PushOutcome.GAVE_UP, status=status, detail=detail)
            delay = retry_delay(job.attempt, retry_after, self.retry_base_seconds)
            self.queue.schedule(replace(job, subscription_id=subscription.id, attempt=job.attempt + 1), delay)
            return delivery(PushOutcome.RETRYING, status=status, delay_seconds=delay, detail=detail)
        return delivery(PushOutcome.SENT)
