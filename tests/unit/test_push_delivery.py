"""The push worker's logic on moto: subscriptions, per-subscription outcomes, backoff retries."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.push import NOTIFICATION
from tests.support.push_service import LocalPushService, closed_port_url
from tests.support.webpush import Subscriber
from tidings.kernel.delay_queue import DelayQueue
from tidings.notifications.push_delivery import (
    MAX_ATTEMPTS,
    PushDelivery,
    PushJob,
    PushNotification,
    PushOutcome,
    PushRejected,
    PushSubscription,
    SubscriptionGone,
    TransientPushFailure,
    retry_delay,
    subscription_id,
)
from tidings.notifications.push_store import DynamoSubscriptionStore
from tidings.notifications.records import PUSH_JOB_BODIES, push_job_from_body
from tidings.notifications.vapid import VapidConfig
from tidings.notifications.webpush import WebPushSender


def web(user: str, endpoint: str) -> PushSubscription:
    subscriber = Subscriber()
    keys = subscriber.subscription(endpoint)["keys"]
    return PushSubscription(
        user, "webpush", endpoint=endpoint, p256dh=keys["p256dh"], auth=keys["auth"], created_at="t"
    )


def native(user: str, platform: str, token: str) -> PushSubscription:
    return PushSubscription(user, platform, device_token=token, created_at="t")


class FakeSender:
    """Answers per device: `None` delivers, an exception fails."""

    def __init__(self, failures: dict[str, Exception] | None = None) -> None:
        self.failures = failures or {}
        self.sent: list[tuple[str, PushNotification]] = []

    def send(self, subscription: PushSubscription, notification: PushNotification) -> None:
        address = subscription.endpoint or subscription.device_token or ""
        if address in self.failures:
            raise self.failures[address]
        self.sent.append((address, notification))


class RecordingQueue:
    def __init__(self) -> None:
        self.jobs: list[tuple[PushJob, int]] = []

    def schedule(self, job: PushJob, delay_seconds: int = 0) -> None:
        self.jobs.append((job, delay_seconds))


@pytest.fixture
def store(aws):
    return DynamoSubscriptionStore()


def delivery_with(store, senders, queue=None, **kwargs):
    return PushDelivery(store, lambda platform: senders.get(platform), queue or RecordingQueue(), **kwargs)


# --- the subscription store --------------------------------------------------------------------


def test_the_store_keeps_a_users_subscriptions_and_re_registration_is_idempotent(store):
    first = web("carol", "https://push.example/a")
    store.save(first)
    store.save(first)
    store.save(native("carol", "fcm", "fcm-token"))
    store.save(native("dave", "apns", "ab" * 32))
    assert sorted(s.platform for s in store.for_user("carol")) == ["fcm", "webpush"]
    [saved] = [s for s in store.for_user("carol") if s.platform == "webpush"]
    assert (saved.endpoint, saved.p256dh, saved.auth) == (first.endpoint, first.p256dh, first.auth)
    assert saved.id == subscription_id("webpush", "https://push.example/a")
    store.remove("carol", saved.id)
    assert [s.platform for s in store.for_user("carol")] == ["fcm"]


def test_a_device_registered_by_another_user_moves_to_that_user(store):
    store.save(native("carol", "fcm", "shared-phone"))
    store.save(native("dave", "fcm", "shared-phone"))
    assert store.for_user("carol") == []
    assert [s.device_token for s in store.for_user("dave")] == ["shared-phone"]


def test_an_expired_web_push_subscription_is_not_used(store):
    expired = web("carol", "https://push.example/old")
    store.save(PushSubscription(**{**expired.__dict__, "expires_at": int(time.time()) - 10}))
    store.save(web("carol", "https://push.example/new"))
    assert [s.endpoint for s in store.for_user("carol")] == ["https://push.example/new"]


# --- delivery outcomes --------------------------------------------------------------------------


def test_a_job_goes_to_every_subscription_of_the_user(store):
    store.save(web("carol", "https://push.example/a"))
    store.save(native("carol", "fcm", "fcm-token"))
    store.save(native("dave", "fcm", "daves"))
    web_sender, fcm_sender = FakeSender(), FakeSender()
    deliveries = delivery_with(store, {"webpush": web_sender, "fcm": fcm_sender}).deliver(PushJob(NOTIFICATION))
    assert sorted(d.outcome for d in deliveries) == [PushOutcome.SENT, PushOutcome.SENT]
    assert web_sender.sent == [("https://push.example/a", NOTIFICATION)]
    assert fcm_sender.sent == [("fcm-token", NOTIFICATION)]


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_deleted_and_the_others_still_get_it(store, status):
    store.save(web("carol", "https://push.example/gone"))
    store.save(web("carol", "https://push.example/fine"))
    sender = FakeSender({"https://push.example/gone": SubscriptionGone("gone", status)})
    deliveries = delivery_with(store, {"webpush": sender}).deliver(PushJob(NOTIFICATION))
    outcomes = {d.subscription_id: (d.outcome, d.status) for d in deliveries}
    assert outcomes[subscription_id("webpush", "https://push.example/gone")] == (PushOutcome.EXPIRED, status)
    assert outcomes[subscription_id("webpush", "https://push.example/fine")] == (PushOutcome.SENT, None)
    assert [s.endpoint for s in store.for_user("carol")] == ["https://push.example/fine"]


def test_a_transient_failure_re_enqueues_that_subscription_alone_with_backoff(store):
    store.save(web("carol", "https://push.example/busy"))
    store.save(web("carol", "https://push.example/fine"))
    queue = RecordingQueue()
    sender = FakeSender({"https://push.example/busy": TransientPushFailure("503", 503)})
    [busy] = [
        d
        for d in delivery_with(store, {"webpush": sender}, queue).deliver(
            PushJob(NOTIFICATION, attempt=3, trace_id="trace-of-the-message")
        )
        if d.outcome != PushOutcome.SENT
    ]
    assert (busy.outcome, busy.status, busy.delay_seconds) == (PushOutcome.RETRYING, 503, 120)
    [(job, delay)] = queue.jobs
    assert (job.subscription_id, job.attempt, delay) == (
        subscription_id("webpush", "https://push.example/busy"),
        4,
        120,
    )
    assert job.notification == NOTIFICATION
    assert job.trace_id == "trace-of-the-message"  # the retry is still part of the message's trace
    assert push_job_from_body(PUSH_JOB_BODIES.encode(job)).trace_id == "trace-of-the-message"
    assert len(store.for_user("carol")) == 2, "a transient failure deletes nothing"


def test_a_retry_job_goes_only_to_its_subscription(store):
    store.save(web("carol", "https://push.example/a"))
    store.save(web("carol", "https://push.example/b"))
    sender = FakeSender()
    target = subscription_id("webpush", "https://push.example/b")
    deliveries = delivery_with(store, {"webpush": sender}).deliver(PushJob(NOTIFICATION, target, attempt=2))
    assert [(d.subscription_id, d.outcome, d.attempt) for d in deliveries] == [(target, PushOutcome.SENT, 2)]
    assert [address for address, _ in sender.sent] == ["https://push.example/b"]


def test_a_retry_for_a_subscription_deleted_meanwhile_does_nothing(store):
    sender = FakeSender()
    job = PushJob(NOTIFICATION, subscription_id("webpush", "https://push.example/x"), attempt=2)
    assert delivery_with(store, {"webpush": sender}).deliver(job) == []
    assert sender.sent == []


def test_the_last_attempt_gives_up_instead_of_re_enqueueing(store):
    store.save(native("carol", "apns", "ab" * 32))
    queue = RecordingQueue()
    sender = FakeSender({"ab" * 32: TransientPushFailure("timeout")})
    [gave_up] = delivery_with(store, {"apns": sender}, queue).deliver(PushJob(NOTIFICATION, attempt=MAX_ATTEMPTS))
    assert gave_up.outcome == PushOutcome.GAVE_UP
    assert queue.jobs == []
    assert store.for_user("carol"), "giving up keeps the subscription: the device may come back"


def test_a_rejected_push_is_not_retried(store):
    store.save(native("carol", "fcm", "t"))
    queue = RecordingQueue()
    [failed] = delivery_with(store, {"fcm": FakeSender({"t": PushRejected("400", 400)})}, queue).deliver(
        PushJob(NOTIFICATION)
    )
    assert (failed.outcome, failed.status, queue.jobs) == (PushOutcome.FAILED, 400, [])


def test_an_unclassified_error_of_a_sender_is_retried_not_raised(store):
    store.save(native("carol", "fcm", "t"))
    queue = RecordingQueue()
    [retrying] = delivery_with(store, {"fcm": FakeSender({"t": RuntimeError("bug")})}, queue).deliver(
        PushJob(NOTIFICATION)
    )
    assert retrying.outcome == PushOutcome.RETRYING
    assert [(job.attempt, delay) for job, delay in queue.jobs] == [(2, 30)]


def test_an_unconfigured_platform_is_skipped_and_the_others_still_sent(store):
    store.save(native("carol", "apns", "ab" * 32))
    store.save(native("carol", "fcm", "t"))
    sender = FakeSender()
    deliveries = delivery_with(store, {"fcm": sender}).deliver(PushJob(NOTIFICATION))
    assert {d.platform: d.outcome for d in deliveries} == {"apns": PushOutcome.UNCONFIGURED, "fcm": PushOutcome.SENT}
    assert len(store.for_user("carol")) == 2


def test_an_unreachable_endpoint_is_a_retry_not_a_crash(store):
    """A real WebPushSender against a port where nothing listens."""
    endpoint = closed_port_url()
    store.save(web("carol", endpoint))
    queue = RecordingQueue()
    sender = WebPushSender(VapidConfig.generate("mailto:ops@example.com"), allow_loopback_http=True)
    with LocalPushService() as service:
        store.save(web("carol", service.url("/push/ok")))
        deliveries = delivery_with(store, {"webpush": sender}, queue).deliver(PushJob(NOTIFICATION))
    outcomes = {d.subscription_id: d.outcome for d in deliveries}
    assert outcomes[subscription_id("webpush", endpoint)] == PushOutcome.RETRYING
    assert sorted(outcomes.values()) == sorted([PushOutcome.RETRYING, PushOutcome.SENT])
    assert [(job.subscription_id, job.attempt, delay) for job, delay in queue.jobs] == [
        (subscription_id("webpush", endpoint), 2, 30)
    ]


# --- backoff and the job body ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failed_attempt", "retry_after", "expected"),
    [(1, None, 30), (2, None, 60), (4, None, 240), (6, None, 900), (12, None, 900), (1, 95.2, 96), (2, 5000, 900)],
)
def test_backoff_doubles_honours_retry_after_and_stops_at_the_sqs_maximum(failed_attempt, retry_after, expected):
    assert retry_delay(failed_attempt, retry_after) == expected


def test_a_shorter_base_delay_shortens_every_retry(store):
    store.save(native(NOTIFICATION.user_id, "fcm", "phone"))
    queue = RecordingQueue()
    delivery = delivery_with(
        store, {"fcm": FakeSender({"phone": TransientPushFailure("down")})}, queue, retry_base_seconds=1
    )

    for attempt in (1, 2, 3):
        delivery.deliver(PushJob(NOTIFICATION, attempt=attempt))

    assert [delay for _, delay in queue.jobs] == [1, 2, 4]
    assert retry_delay(1, None, base_seconds=0.5) == 1  # SQS delays are whole seconds


def test_the_sqs_queue_carries_the_job_and_its_delay():
    class Client:
        def __init__(self) -> None:
            self.calls: list[dict] = []

        def send_message(self, **kwargs) -> None:
            self.calls.append(kwargs)

    client = Client()
    queue = DelayQueue("https://sqs.example/push", PUSH_JOB_BODIES, client=client)
    queue.schedule(PushJob(NOTIFICATION))
    queue.schedule(PushJob(NOTIFICATION, "sub-1", 3), delay_seconds=5000)
    first, retry = client.calls
    assert first["DelaySeconds"] == 0 and retry["DelaySeconds"] == 900
    assert push_job_from_body(first["MessageBody"]) == PushJob(NOTIFICATION)
    assert push_job_from_body(retry["MessageBody"]) == PushJob(NOTIFICATION, "sub-1", 3)


@pytest.mark.parametrize(
    "body",
    ["not json", "[]", "{}", json.dumps({"notification": {"user_id": "x"}}), '{"notification": {}, "attempt": 0}'],
)
def test_a_body_that_is_not_a_push_job_is_refused(body):
    with pytest.raises((ValueError, KeyError, TypeError)):
        push_job_from_body(body)
