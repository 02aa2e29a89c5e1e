"""The push worker driven by SQS events on moto, sending to a push service on 127.0.0.1."""

from __future__ import annotations

import json
from dataclasses import replace

import boto3
import pytest

from tests.support.events import sqs_event
from tests.support.lambdas import load_function
from tests.support.push import NOTIFICATION as SAMPLE
from tests.support.push_service import LocalPushService
from tests.support.webpush import Subscriber
from tidings.kernel.environment import ColdStart
from tidings.notifications.push_delivery import MAX_ATTEMPTS, PushJob, PushSubscription, subscription_id
from tidings.notifications.push_store import DynamoSubscriptionStore
from tidings.notifications.vapid import VapidConfig

NOTIFICATION = replace(SAMPLE, total_unread=2)


@pytest.fixture(scope="module")
def worker():
    return load_function("notifications/push_worker.py")


@pytest.fixture
def queue_url(connections, monkeypatch) -> str:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="push-jobs")["QueueUrl"]
    secrets = boto3.client("secretsmanager")
    vapid = secrets.create_secret(Name="vapid", SecretString=VapidConfig.generate("mailto:o@example.com").to_secret())
    fcm = secrets.create_secret(Name="fcm", SecretString="{}")  # the placeholder: not configured
    monkeypatch.setenv("PUSH_JOBS_QUEUE_URL", url)
    monkeypatch.setenv("PUSH_VAPID_KEY_SECRET_ARN", vapid["ARN"])
    monkeypatch.setenv("PUSH_FCM_SERVICE_ACCOUNT_SECRET_ARN", fcm["ARN"])
    monkeypatch.setenv("PUSH_ALLOW_LOOPBACK_HTTP", "true")
    ColdStart.forget_all()
    return url


@pytest.fixture
def counted(monkeypatch) -> list[str]:
    """The names of the metrics the worker adds (Powertools flushes them as EMF on AWS)."""
    from tidings.kernel.observability import metrics

    names: list[str] = []
    monkeypatch.setattr(metrics, "add_metric", lambda name, unit, value, **_: names.append(name))
    return names


@pytest.fixture
def push_service():
    with LocalPushService() as service:
        yield service


def subscribe(endpoint: str, user: str = "carol") -> Subscriber:
    subscriber = Subscriber()
    keys = subscriber.subscription(endpoint)["keys"]
    DynamoSubscriptionStore().save(
        PushSubscription(user, "webpush", endpoint=endpoint, p256dh=keys["p256dh"], auth=keys["auth"], created_at="t")
    )
    return subscriber


def body(job: PushJob) -> str:
    return json.dumps(job.to_body())


def test_a_job_is_delivered_and_a_gone_subscription_deleted(worker, context, queue_url, push_service, counted):
    laptop = subscribe(push_service.url("/push/laptop"))
    subscribe(push_service.url("/push/old-phone"))
    push_service.answers["/push/old-phone"] = (410, {})
    response = worker.handler(sqs_event([body(PushJob(NOTIFICATION))]), context)
    assert response == {"batchItemFailures": []}
    [delivered] = [r for r in push_service.requests if r.path == "/push/laptop"]
    assert laptop.decrypt(delivered.body) == NOTIFICATION.to_payload()
    assert [s.endpoint for s in DynamoSubscriptionStore().for_user("carol")] == [push_service.url("/push/laptop")]
    assert sorted(counted) == ["PushExpired.webpush", "PushSent.webpush"]


def test_a_poison_body_fails_alone_and_the_rest_of_the_batch_is_delivered(
    worker, context, queue_url, push_service, counted
):
    subscribe(push_service.url("/push/laptop"))
    event = sqs_event(["{not json", body(PushJob(NOTIFICATION)), json.dumps({"notification": {"user_id": "x"}})])
    response = worker.handler(event, context)
    records = event["Records"]
    assert response == {
        "batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}, {"itemIdentifier": records[2]["messageId"]}]
    }
    assert len(push_service.requests) == 1
    assert sorted(counted) == ["PushJobsMalformed", "PushJobsMalformed", "PushSent.webpush"]


def test_a_batch_of_only_poison_is_a_partial_failure_not_an_error(worker, context, queue_url):
    event = sqs_event(["[]"])
    assert worker.handler(event, context) == {
        "batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]
    }


def test_a_busy_push_service_gets_a_delayed_retry_for_that_subscription(
    worker, context, queue_url, push_service, counted
):
    subscribe(push_service.url("/push/busy"))
    push_service.answers["/push/busy"] = (503, {"Retry-After": "45"})
    assert worker.handler(sqs_event([body(PushJob(NOTIFICATION, attempt=1))]), context) == {"batchItemFailures": []}
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1", "the retry waits for its backoff"
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert counted == ["PushRetried.webpush"]


def test_the_last_attempt_gives_up_with_a_log_line_and_a_metric(
    worker, context, queue_url, push_service, caplog, counted
):
    subscribe(push_service.url("/push/busy"))
    push_service.answers["/push/busy"] = (500, {})
    job = PushJob(NOTIFICATION, subscription_id("webpush", push_service.url("/push/busy")), attempt=MAX_ATTEMPTS)
    assert worker.handler(sqs_event([body(job)]), context) == {"batchItemFailures": []}
    [gave_up] = [record for record in caplog.records if getattr(record, "outcome", None) == "gave_up"]
    assert (gave_up.levelname, gave_up.platform, gave_up.status) == ("WARNING", "webpush", 500)
    assert counted == ["PushGaveUp.webpush"]
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "0"


def test_an_unconfigured_platform_is_skipped_without_failing(worker, context, queue_url, caplog, counted):
    DynamoSubscriptionStore().save(PushSubscription("carol", "fcm", device_token="t", created_at="t"))
    DynamoSubscriptionStore().save(PushSubscription("carol", "apns", device_token="ab" * 32, created_at="t"))
    assert worker.handler(sqs_event([body(PushJob(NOTIFICATION))]), context) == {"batchItemFailures": []}
    skipped = [r.platform for r in caplog.records if getattr(r, "outcome", None) == "unconfigured"]
    assert sorted(skipped) == ["apns", "fcm"]
    assert sorted(counted) == ["PushSkippedUnconfigured.apns", "PushSkippedUnconfigured.fcm"]
    assert len(DynamoSubscriptionStore().for_user("carol")) == 2
