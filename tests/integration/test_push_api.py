"""The push subscription REST API, driven by HTTP API (payload 2.0) events on moto."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.support.events import http_event
from tests.support.lambdas import load_function
from tests.support.webpush import Subscriber
from tidings.kernel.environment import ColdStart
from tidings.notifications.push_delivery import subscription_id
from tidings.notifications.push_store import DynamoSubscriptionStore
from tidings.notifications.vapid import VapidConfig
from tidings.sessions.tokens import issue_token

ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc123"
APNS_TOKEN = "0f" * 32


@pytest.fixture(scope="module")
def api():
    return load_function("notifications/push_api.py")


@pytest.fixture
def vapid(connections, signing_key, monkeypatch) -> VapidConfig:
    config = VapidConfig.generate("mailto:ops@example.com")
    arn = boto3.client("secretsmanager").create_secret(Name="tidings/push-vapid", SecretString=config.to_secret())[
        "ARN"
    ]
    monkeypatch.setenv("PUSH_VAPID_KEY_SECRET_ARN", arn)
    ColdStart.forget_all()
    return config


def call(api, context, key, method, path, body=None, user="carol"):
    response = api.handler(http_event(method, path, token=issue_token(user, key) if key else None, body=body), context)
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def test_a_web_push_subscription_is_registered_idempotently_and_deleted(api, context, signing_key, vapid):
    subscription = Subscriber().subscription(ENDPOINT)
    first = call(api, context, signing_key, "POST", "/api/push/subscriptions", subscription)
    again = call(api, context, signing_key, "POST", "/api/push/subscriptions", subscription)
    assert first == again == (201, {"subscriptionId": subscription_id("webpush", ENDPOINT), "platform": "webpush"})
    [stored] = DynamoSubscriptionStore().for_user("carol")
    assert (stored.endpoint, stored.p256dh, stored.auth) == (
        ENDPOINT,
        subscription["keys"]["p256dh"],
        subscription["keys"]["auth"],
    )
    assert call(api, context, signing_key, "DELETE", "/api/push/subscriptions", {"endpoint": ENDPOINT}) == (204, None)
    assert DynamoSubscriptionStore().for_user("carol") == []
    # Deleting again is still 204.
    assert call(api, context, signing_key, "DELETE", "/api/push/subscriptions", {"endpoint": ENDPOINT})[0] == 204


def test_device_tokens_are_registered_and_deleted_by_platform_and_token(api, context, signing_key, vapid):
    assert (
        call(
            api,
            context,
            signing_key,
            "POST",
            "/api/push/subscriptions",
            {"platform": "apns", "deviceToken": APNS_TOKEN},
        )[0]
        == 201
    )
    assert (
        call(
            api,
            context,
            signing_key,
            "POST",
            "/api/push/subscriptions",
            {"platform": "fcm", "deviceToken": "fcm:tok-1"},
        )[0]
        == 201
    )
    assert sorted(s.platform for s in DynamoSubscriptionStore().for_user("carol")) == ["apns", "fcm"]
    status, _ = call(
        api, context, signing_key, "DELETE", "/api/push/subscriptions", {"platform": "apns", "deviceToken": APNS_TOKEN}
    )
    assert status == 204
    assert [s.platform for s in DynamoSubscriptionStore().for_user("carol")] == ["fcm"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"keys": {"p256dh": "x", "auth": "y"}}, "endpoint"),
        ({"endpoint": "http://push.example/x", "keys": None}, "endpoint"),
        ({"endpoint": "http://127.0.0.1:9/x", "keys": None}, "endpoint"),
        (Subscriber().subscription("https://169.254.169.254/latest/meta-data/iam"), "endpoint"),
        (Subscriber().subscription("https://[::ffff:10.0.0.1]/push"), "endpoint"),
        (Subscriber().subscription("https://127.0.0.1:9200/_search"), "endpoint"),
        ({"endpoint": ENDPOINT}, "keys"),
        ({"endpoint": ENDPOINT, "keys": {"p256dh": "AAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "keys.p256dh"),
        ({"endpoint": ENDPOINT, "keys": {"p256dh": Subscriber().p256dh, "auth": "short"}}, "keys.auth"),
        ({"platform": "apns", "deviceToken": "not-hex"}, "deviceToken"),
        ({"platform": "fcm"}, "deviceToken"),
        ({"platform": "wns", "deviceToken": "x"}, "platform"),
    ],
)
def test_bad_registrations_are_400_naming_the_field(api, context, signing_key, vapid, body, field):
    status, error = call(api, context, signing_key, "POST", "/api/push/subscriptions", body)
    assert status == 400
    assert error["error"]["code"] == "BAD_FRAME"
    assert error["error"]["message"].startswith(f"{field}:"), error


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", ""])
def test_a_body_that_is_not_a_json_object_is_400(api, context, signing_key, vapid, raw):
    status, error = call(api, context, signing_key, "POST", "/api/push/subscriptions", raw)
    assert (status, error["error"]["code"]) == (400, "BAD_FRAME")


def test_http_endpoints_on_loopback_are_allowed_only_where_the_deployment_says(
    api, context, signing_key, vapid, monkeypatch
):
    body = Subscriber().subscription("http://127.0.0.1:8999/push/x")
    assert call(api, context, signing_key, "POST", "/api/push/subscriptions", body)[0] == 400
    monkeypatch.setenv("PUSH_ALLOW_LOOPBACK_HTTP", "true")
    ColdStart.forget_all()
    assert call(api, context, signing_key, "POST", "/api/push/subscriptions", body)[0] == 201
    assert (
        call(
            api,
            context,
            signing_key,
            "POST",
            "/api/push/subscriptions",
            Subscriber().subscription("http://push.example/x"),
        )[0]
        == 400
    )


def test_the_vapid_public_key_is_served(api, context, signing_key, vapid):
    assert call(api, context, signing_key, "GET", "/api/push/vapid-public-key") == (
        200,
        {"publicKey": vapid.public_key},
    )


def test_without_a_configured_vapid_key_the_public_key_is_503(api, context, signing_key, connections, monkeypatch):
    arn = boto3.client("secretsmanager").create_secret(Name="tidings/push-vapid", SecretString="{}")["ARN"]
    monkeypatch.setenv("PUSH_VAPID_KEY_SECRET_ARN", arn)
    ColdStart.forget_all()
    status, error = call(api, context, signing_key, "GET", "/api/push/vapid-public-key")
    assert (status, error["error"]["code"]) == (503, "UNAVAILABLE")


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/api/push/subscriptions"), ("GET", "/api/push/vapid-public-key")]
)
def test_every_call_needs_a_bearer_token(api, context, signing_key, vapid, method, path):
    status, error = call(api, context, None, method, path, {"platform": "fcm", "deviceToken": "t"})
    assert (status, error["error"]["code"]) == (401, "UNAUTHORIZED")
