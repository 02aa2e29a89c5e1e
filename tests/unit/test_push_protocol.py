"""The push subscription bodies (pydantic) and the endpoint rule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.support.webpush import Subscriber
from tidings.domain.push import check_endpoint, subscription_id
from tidings.protocol.push import (
    DeviceTokenIdentity,
    DeviceTokenRegistration,
    WebPushIdentity,
    WebPushRegistration,
    parse_identity,
    parse_registration,
)

ENDPOINT = "https://updates.push.services.mozilla.com/wpush/v2/gAAAA"


def fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in error["loc"]) for error in exc.errors()}


def test_a_browser_subscription_becomes_a_web_push_subscription():
    body = Subscriber().subscription(ENDPOINT) | {"expirationTime": 1_900_000_000_000}
    registration = parse_registration(body, allow_loopback_http=False)
    assert isinstance(registration, WebPushRegistration)
    subscription = registration.subscription("carol", "2026-11-25T10:00:00.000Z")
    assert (subscription.platform, subscription.endpoint, subscription.expires_at) == (
        "webpush",
        ENDPOINT,
        1_900_000_000,
    )
    assert subscription.id == subscription_id("webpush", ENDPOINT)


def test_native_tokens_are_told_apart_by_platform():
    fcm = parse_registration({"platform": "fcm", "deviceToken": "abc:APA91b-x_y"}, allow_loopback_http=False)
    apns = parse_registration({"platform": "apns", "deviceToken": "AB" * 32}, allow_loopback_http=False)
    assert isinstance(fcm, DeviceTokenRegistration) and isinstance(apns, DeviceTokenRegistration)
    assert fcm.subscription("u", "t").id == subscription_id("fcm", "abc:APA91b-x_y")
    assert subscription_id("fcm", "same") != subscription_id("apns", "same")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"endpoint": "ftp://x/y", "keys": {}}, "endpoint"),
        ({"endpoint": ENDPOINT, "keys": {"p256dh": "!!!", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "keys.p256dh"),
        ({"endpoint": ENDPOINT, "keys": {"p256dh": Subscriber().p256dh, "auth": "AAAA"}}, "keys.auth"),
        ({"endpoint": ENDPOINT, "keys": {"p256dh": Subscriber().p256dh}}, "keys.auth"),
        (
            {"endpoint": ENDPOINT, "keys": Subscriber().subscription(ENDPOINT)["keys"], "expirationTime": -1},
            "expirationTime",
        ),
        ({"platform": "apns", "deviceToken": "zz" * 32}, "deviceToken"),
        ({"platform": "fcm", "deviceToken": "has space"}, "deviceToken"),
        ({"platform": "fcm", "deviceToken": ""}, "deviceToken"),
    ],
)
def test_bad_bodies_name_the_field(body, field):
    with pytest.raises(ValidationError) as raised:
        parse_registration(body, allow_loopback_http=True)
    assert field in fields(raised.value)


def test_delete_bodies_identify_the_subscription():
    web = parse_identity(Subscriber().subscription(ENDPOINT))  # the whole subscription JSON works
    assert isinstance(web, WebPushIdentity) and web.subscription_id == subscription_id("webpush", ENDPOINT)
    native = parse_identity({"platform": "apns", "deviceToken": "ab"})
    assert isinstance(native, DeviceTokenIdentity) and native.subscription_id == subscription_id("apns", "ab")
    with pytest.raises(ValidationError):
        parse_identity({})


@pytest.mark.parametrize(
    ("endpoint", "loopback_allowed", "ok"),
    [
        ("https://fcm.googleapis.com/fcm/send/x", False, True),
        ("http://fcm.googleapis.com/fcm/send/x", True, False),
        ("http://127.0.0.1:8080/push", False, False),
        ("http://127.0.0.1:8080/push", True, True),
        ("http://localhost/push", True, True),
        ("http://[::1]:9/push", True, True),
        ("http://10.0.0.1/push", True, False),
        ("https:///no-host", False, False),
        ("javascript:alert(1)", True, False),
    ],
)
def test_endpoints_are_https_except_loopback_where_allowed(endpoint, loopback_allowed, ok):
    if ok:
        assert check_endpoint(endpoint, allow_loopback_http=loopback_allowed) == endpoint
    else:
        with pytest.raises(ValueError):
            check_endpoint(endpoint, allow_loopback_http=loopback_allowed)
